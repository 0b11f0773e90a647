"""People: users with roles, their passwords and API tokens (console, review CLI, MCP).

`roles` says who may do what; `passwords` hashes them (argon2id); `users` keeps users and
tokens in PostgreSQL and answers "who is this?" for a password or a bearer token.
"""
