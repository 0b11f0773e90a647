"""Platform accounts: OAuth 2.0 (authorization code + PKCE, loopback redirect), refresh, and
the access tokens publishers ask for (`AccessTokens`). Storage and locking are the agents'
(`agents.accounts`); the tokens are sealed at rest by `core.crypto`."""
