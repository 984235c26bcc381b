"""The gateway: one GraphQL API for the web and mobile frontends, in front of the content, policy,
sharing and metrics services. It owns no data: every field is answered by a service's REST API, called
with the caller's own token."""
