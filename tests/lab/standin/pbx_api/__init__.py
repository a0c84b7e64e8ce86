"""The stand-in PBX REST API's parts; pbx-api.py (next to this package) runs the servers.

config    the environment's settings and fixed values
state     the state file, sessions, errors, IP rules and their queries
spec      PortSIP's OpenAPI document as the judge of every /api request
traffic   the traffic file (every /api request and its answer, secrets redacted)
routes    what each operation does
handler   the HTTP request handlers (public /api and the internal one)
"""
