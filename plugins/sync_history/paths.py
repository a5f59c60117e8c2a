"""Where the history app is mounted in the api-server; the pages build their links from it."""

URL_PREFIX = "/sync-history"
