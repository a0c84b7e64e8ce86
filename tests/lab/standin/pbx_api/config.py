"""The stand-in's settings (environment overrides: see pbx-api.py) and fixed values."""

import os

STATE = os.environ.get("PBX_API_STATE", "/var/lib/portsip-pbx-api/state.json")
ADMIN = os.environ.get("PBX_API_ADMIN", "/etc/portsip-pbx-api/admin.json")
TLS_DIR = os.environ.get("PBX_API_TLS", "/etc/portsip-pbx-api")
PORT = int(os.environ.get("PBX_API_PORT", "8887"))
BIND = os.environ.get("PBX_API_BIND", "0.0.0.0")
OPENAPI = os.environ.get("PBX_API_OPENAPI", "/etc/portsip-pbx-api/openapi.json")
TRAFFIC = os.environ.get("PBX_API_TRAFFIC", "/var/lib/portsip-pbx-api/traffic.jsonl")
OAUTH_PATH = "/login/oauth/token"  # relative to /api; the REST guide's, not in the document
SECRET_FIELDS = {"password", "access_token", "refresh_token", "token"}
LOGIN_STYLES = os.environ.get("PBX_API_LOGIN_STYLES", "json,oauth").split(",")
JSON_LOGIN = os.environ.get("PBX_API_JSON_LOGIN", "body")
SESSION_COOKIE = "portsip_session"
INTERNAL_PORT = int(os.environ.get("PBX_API_INTERNAL_PORT", "8886"))
CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
TOKEN_LIFETIME = 1800
IM_FIELDS = ("private_ipv4", "private_ipv6", "public_ipv4", "public_ipv6")
FILTER_FIELDS = ("id", "cidr", "target", "expire_at", "description")
