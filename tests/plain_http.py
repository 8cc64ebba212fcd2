"""One TLS context for every HTTP client the tests make.

httpx builds a context for each client (and each top-level `httpx.post`) unless given one,
loading the system's CA store: about 20 ms of CPU a time, thousands of times a run. The
tests only speak plain HTTP to local servers, so they share this one.
"""

import ssl

TLS = ssl.create_default_context()
