"""The operator console (`chimera console`): the pipeline, the review queue, dead letters,
alerts and the audit log in the browser, for logged-in users with roles (chimera.auth).

A Starlette application with server-rendered Jinja2 templates, SVG charts drawn on the
server and a few lines of JavaScript for live refresh; no front-end build.
"""
