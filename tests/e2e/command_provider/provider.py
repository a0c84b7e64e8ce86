"""A stand-in for the pulumi-command v1.2.1 resource provider plugin: `command:remote:Command` only.

The real plugin (github.com/pulumi/pulumi-command/provider, a pulumi-go-provider `infer` provider)
cannot be built here, so the end-to-end tests run this Python gRPC server in its place. It speaks
the engine's ResourceProvider protocol (the SDK's generated provider_pb2 / provider_pb2_grpc) and
copies the real resource's semantics:

- Check: applies the schema defaults (connection.user "root", port 22, dialErrorLimit 10,
  perDialTimeout 15, the same inside `proxy`; addPreviousOutputInEnv true).
- Diff: compares the old state's input fields with the new inputs (plain values; secrets are
  unwrapped). A change of `triggers` replaces; any other change updates; none is DIFF_NONE.
- Create: nothing runs in preview (stdout/stderr unknown); else runs `create` once. A failed
  command is an error and leaves nothing in the state (no partial state, like infer).
- Update: runs `update`, or `create` when `update` is unset, with the NEW connection; the old
  stdout/stderr go in PULUMI_COMMAND_STDOUT/STDERR when addPreviousOutputInEnv.
- Delete: runs `delete` (if set) with the stored (old) state's connection and environment.
- `connection` is always returned as a secret (the schema marks it secret); any other field keeps
  the secretness of its input; stdout/stderr are not secret.
- Command output is streamed to the engine as ephemeral status lines (like util.LogOutput),
  subject to `logging`.

See README.md beside this file for the deviations. Usage (by the engine): provider.py ENGINE_ADDR.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from concurrent import futures
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import grpc  # noqa: E402
import sshrun  # noqa: E402
from google.protobuf import empty_pb2, json_format, struct_pb2  # noqa: E402
from pulumi.runtime.proto import (  # noqa: E402
    engine_pb2,
    engine_pb2_grpc,
    plugin_pb2,
    provider_pb2,
    provider_pb2_grpc,
)

VERSION = "1.2.1"
TYPE = "command:remote:Command"

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

INPUTS = (
    "connection",
    "environment",
    "triggers",
    "create",
    "update",
    "delete",
    "stdin",
    "logging",
    "addPreviousOutputInEnv",
)
REPLACE_ON_CHANGES = {"triggers"}
LOGGING = {"stdout", "stderr", "stdoutAndStderr", "none"}
CONNECTION_DEFAULTS = {"user": "root", "port": 22.0, "dialErrorLimit": 10.0, "perDialTimeout": 15.0}

Kind = provider_pb2.PropertyDiff.Kind


# --- property values: plain JSON-like values, Secret(...) wrappers and the UNKNOWN sentinel ------


class Secret:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:  # never shows the value
        return "Secret(***)"


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            return Secret(decode(value.get("value")))
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def encode(value: Any) -> Any:
    if isinstance(value, Secret):
        return {SIG: SECRET_SIG, "value": encode(value.value)}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    return value


def plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def has_unknown(value: Any) -> bool:
    value = plain(value)
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return decode(json_format.MessageToDict(struct))


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(encode(props))
    return out


def same_secretness(template: Any, value: Any) -> Any:
    """`value` wrapped as a secret if `template` is one."""
    if isinstance(template, Secret) and not isinstance(value, Secret):
        return Secret(value)
    return value


# --- Check --------------------------------------------------------------------------------------


def _connection_defaults(conn: Any, path: str, failures: list[tuple[str, str]]) -> Any:
    if isinstance(conn, Secret):
        return Secret(_connection_defaults(conn.value, path, failures))
    if conn == UNKNOWN:
        return conn
    if not isinstance(conn, dict):
        failures.append((path, f"{path} must be an object"))
        return conn
    conn = dict(conn)
    for key, default in CONNECTION_DEFAULTS.items():
        if conn.get(key) is None:
            conn[key] = default
    if plain(conn.get("host")) in (None, ""):
        failures.append((f"{path}.host", "Missing required field 'host'"))
    if path == "connection" and conn.get("proxy") is not None:
        conn["proxy"] = _connection_defaults(conn["proxy"], f"{path}.proxy", failures)
    return conn


def check(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    failures: list[tuple[str, str]] = []
    news = {k: v for k, v in news.items() if v is not None}
    if "connection" not in news:
        failures.append(("connection", "Missing required field 'connection'"))
    else:
        news["connection"] = _connection_defaults(news["connection"], "connection", failures)
    if "addPreviousOutputInEnv" not in news:
        news["addPreviousOutputInEnv"] = True
    logging = plain(news.get("logging"))
    if logging is not None and logging != UNKNOWN and logging not in LOGGING:
        failures.append(("logging", f"logging must be one of {sorted(LOGGING)}"))
    env = plain(news.get("environment"))
    if env is not None and env != UNKNOWN and not isinstance(env, dict):
        failures.append(("environment", "environment must be a map of strings"))
    return news, failures


# --- Diff ---------------------------------------------------------------------------------------


def diff(
    olds: dict[str, Any], news: dict[str, Any], ignore: list[str]
) -> tuple[dict[str, int], list[str]]:
    news = dict(news)
    for key in ignore:
        if key in olds:
            news[key] = olds[key]
        else:
            news.pop(key, None)
    detailed: dict[str, int] = {}
    for key in INPUTS:
        old, new = plain(olds.get(key)), plain(news.get(key))
        if old is None and new is None:
            continue
        if old == new and not has_unknown(new):
            continue
        if old is None:
            kind = Kind.ADD
        elif new is None:
            kind = Kind.DELETE
        else:
            kind = Kind.UPDATE
        if key in REPLACE_ON_CHANGES:
            kind = {
                Kind.ADD: Kind.ADD_REPLACE,
                Kind.DELETE: Kind.DELETE_REPLACE,
                Kind.UPDATE: Kind.UPDATE_REPLACE,
            }[kind]
        detailed[key] = kind
    replaces = [
        k
        for k, v in detailed.items()
        if v in (Kind.ADD_REPLACE, Kind.DELETE_REPLACE, Kind.UPDATE_REPLACE)
    ]
    return detailed, replaces


# --- the gRPC service ---------------------------------------------------------------------------


class CommandProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, engine_address: str | None) -> None:
        self._engine_address = engine_address
        self._engine: engine_pb2_grpc.EngineStub | None = None
        self._runners: set[sshrun.Runner] = set()
        self._lock = threading.Lock()

    # engine log (ephemeral status lines, like the real provider's util.LogOutput)
    def _status(self, urn: str, line: str) -> None:
        if not self._engine_address:
            return
        try:
            if self._engine is None:
                self._engine = engine_pb2_grpc.EngineStub(
                    grpc.insecure_channel(self._engine_address)
                )
            self._engine.Log(
                engine_pb2.LogRequest(
                    severity=engine_pb2.INFO, message=line, urn=urn, ephemeral=True
                )
            )
        except Exception:  # logging is best effort
            pass

    def _fail(self, context: grpc.ServicerContext, message: str) -> None:
        context.abort(grpc.StatusCode.UNKNOWN, message)

    def _only_command(self, type_: str, urn: str, context: grpc.ServicerContext) -> None:
        token = type_ or (urn.split("::")[2] if urn.count("::") >= 3 else "")
        token = token.rsplit("$", 1)[-1]
        if token != TYPE:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"this stand-in of pulumi-command only implements {TYPE}, not {token!r}",
            )

    def _run(
        self,
        urn: str,
        state: dict[str, Any],
        command: str,
        prev_stdout: str,
        prev_stderr: str,
        context: grpc.ServicerContext,
    ) -> tuple[str, str]:
        conn = plain(state.get("connection"))
        env = {k: str(v) for k, v in (plain(state.get("environment")) or {}).items()}
        add_prev = plain(state.get("addPreviousOutputInEnv"))
        if add_prev is None or add_prev:
            if prev_stdout:
                env["PULUMI_COMMAND_STDOUT"] = prev_stdout
            if prev_stderr:
                env["PULUMI_COMMAND_STDERR"] = prev_stderr
        logging = plain(state.get("logging"))
        log_out = logging in (None, "stdout", "stdoutAndStderr")
        log_err = logging in (None, "stderr", "stdoutAndStderr")

        def status(line: str) -> None:
            self._status(urn, line)

        runner = sshrun.Runner()
        with self._lock:
            self._runners.add(runner)
        try:
            return runner.run(
                conn,
                command,
                stdin=plain(state.get("stdin")),
                environment=env,
                log_stdout=status if log_out else None,
                log_stderr=status if log_err else None,
                log_status=status,
            )
        except sshrun.SshError as e:
            self._fail(context, str(e))
            raise AssertionError("unreachable") from e
        finally:
            with self._lock:
                self._runners.discard(runner)

    @staticmethod
    def _outputs(inputs: dict[str, Any], stdout: Any, stderr: Any) -> dict[str, Any]:
        outs = {k: v for k, v in inputs.items() if k in INPUTS}
        if "connection" in outs and not isinstance(outs["connection"], Secret):
            outs["connection"] = Secret(outs["connection"])
        outs["stdout"] = stdout
        outs["stderr"] = stderr
        return outs

    # -- plugin / provider configuration ---------------------------------------------------------
    def Handshake(self, request, context):  # noqa: N802
        if request.engine_address:
            self._engine_address = request.engine_address
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=True,
            accept_resources=True,
            accept_outputs=False,
        )

    def GetPluginInfo(self, request, context):  # noqa: N802
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(self, request, context):  # noqa: N802
        return provider_pb2.GetSchemaResponse(
            schema=json.dumps(
                {
                    "name": "command",
                    "version": VERSION,
                    "description": "stand-in of pulumi-command (command:remote:Command only)",
                    "resources": {
                        TYPE: {
                            "inputProperties": {
                                "connection": {
                                    "$ref": "#/types/command:remote:Connection",
                                    "secret": True,
                                },
                                "triggers": {
                                    "type": "array",
                                    "items": {"$ref": "pulumi.json#/Any"},
                                    "replaceOnChanges": True,
                                },
                                **{
                                    k: {"type": "string"}
                                    for k in ("create", "update", "delete", "stdin", "logging")
                                },
                                "environment": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "addPreviousOutputInEnv": {"type": "boolean"},
                            },
                            "requiredInputs": ["connection"],
                        }
                    },
                }
            )
        )

    def CheckConfig(self, request, context):  # noqa: N802
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):  # noqa: N802
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request, context):  # noqa: N802
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True,
            supportsPreview=True,
            acceptResources=True,
            acceptOutputs=False,
        )

    def Attach(self, request, context):  # noqa: N802
        self._engine_address = request.address or self._engine_address
        return empty_pb2.Empty()

    def GetMapping(self, request, context):  # noqa: N802
        return provider_pb2.GetMappingResponse(provider="", data=b"")

    def GetMappings(self, request, context):  # noqa: N802
        return provider_pb2.GetMappingsResponse(providers=[])

    def Cancel(self, request, context):  # noqa: N802
        with self._lock:
            runners = list(self._runners)
        for runner in runners:
            runner.cancel()
        return empty_pb2.Empty()

    # -- the resource ----------------------------------------------------------------------------
    def Check(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        inputs, failures = check(from_struct(request.news))
        return provider_pb2.CheckResponse(
            inputs=to_struct(inputs),
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures],
        )

    def Diff(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        detailed, replaces = diff(
            from_struct(request.olds), from_struct(request.news), list(request.ignoreChanges)
        )
        changes = (
            provider_pb2.DiffResponse.DIFF_SOME if detailed else provider_pb2.DiffResponse.DIFF_NONE
        )
        return provider_pb2.DiffResponse(
            changes=changes,
            replaces=replaces,
            diffs=list(detailed),
            detailedDiff={
                k: provider_pb2.PropertyDiff(kind=v, inputDiff=True) for k, v in detailed.items()
            },
            hasDetailedDiff=True,
            deleteBeforeReplace=False,
        )

    def Create(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        name = request.name or request.urn.split("::")[-1]
        inputs = from_struct(request.properties)
        rid = name + secrets.token_hex(4)  # resource.NewUniqueHex(name, 8, 0): 8 hex digits
        if request.preview:
            outs = self._outputs(inputs, UNKNOWN, UNKNOWN)
        elif inputs.get("create") is None:
            outs = self._outputs(inputs, "", "")
        else:
            stdout, stderr = self._run(
                request.urn, inputs, plain(inputs["create"]), "", "", context
            )
            outs = self._outputs(inputs, stdout, stderr)
        return provider_pb2.CreateResponse(id=rid, properties=to_struct(outs))

    def Read(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        return provider_pb2.ReadResponse(
            id=request.id, properties=request.properties, inputs=request.inputs
        )

    def Update(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        olds, news = from_struct(request.olds), from_struct(request.news)
        old_out, old_err = plain(olds.get("stdout")) or "", plain(olds.get("stderr")) or ""
        if request.preview:
            outs = self._outputs(news, UNKNOWN, UNKNOWN)
        else:
            command = plain(news.get("update"))
            if command is None:
                command = plain(news.get("create"))
            if command is None:
                outs = self._outputs(news, old_out, old_err)
            else:
                stdout, stderr = self._run(request.urn, news, command, old_out, old_err, context)
                outs = self._outputs(news, stdout, stderr)
        return provider_pb2.UpdateResponse(properties=to_struct(outs))

    def Delete(self, request, context):  # noqa: N802
        self._only_command(request.type, request.urn, context)
        props = from_struct(request.properties)
        command = plain(props.get("delete"))
        if command is not None:
            self._run(
                request.urn,
                props,
                command,
                plain(props.get("stdout")) or "",
                plain(props.get("stderr")) or "",
                context,
            )
        return empty_pb2.Empty()


def serve(engine_address: str | None) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(
        CommandProvider(engine_address), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # The engine reads the port from the plugin's first line of stdout.
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


def main(argv: list[str]) -> None:
    # The engine passes flags (--logtostderr, -v=N, --tracing URL, ...) and its address last.
    engine = argv[-1] if argv and not argv[-1].startswith("-") else None
    try:
        serve(engine)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
