"""
A deterministic transcript of what a client library saw: one JSON line per step, with the step's
result or its error (SQLSTATE and primary message). The same probe is run directly against
PostgreSQL and through the gateway, and the two transcripts are compared line by line, so a
result must not hold anything that differs between two runs (pids, times, OIDs).
"""
import datetime
import decimal
import faulthandler
import ipaddress
import json
import sys
import time
import uuid

# A statement the gateway refuses for every identity, whatever the policy.
REFUSED = "select count(*) from pg_stat_activity"


def plain(value):
    """A JSON-safe, deterministic form of what a driver returned."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return "Decimal(" + str(value) + ")"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes:" + bytes(value).hex()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return type(value).__name__ + ":" + value.isoformat()
    if isinstance(value, datetime.timedelta):
        return "timedelta:" + str(value)
    if isinstance(value, uuid.UUID):
        return "uuid:" + str(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return "inet:" + str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "items") and hasattr(value, "keys"):  # asyncpg.Record
        return {str(k): plain(v) for k, v in value.items()}
    if type(value).__name__ in ("Connection", "AsyncConnection", "connection", "Pool", "ThreadedConnectionPool"):
        return type(value).__name__  # its repr names the host, port and user
    return type(value).__name__ + ":" + str(value)


# Error fields compared besides SQLSTATE and message: every field PostgreSQL sends but the
# source location (file, line, routine), which the gateway's own errors do not carry.
FIELDS = ("detail", "hint", "statement_position", "internal_position", "internal_query", "context",
          "schema_name", "table_name", "column_name", "datatype_name", "constraint_name", "severity_nonlocalized")
ASYNCPG_FIELDS = {"detail": "detail", "hint": "hint", "statement_position": "position", "internal_position": "internal_position",
                  "internal_query": "internal_query", "context": "context", "schema_name": "schema_name", "table_name": "table_name",
                  "column_name": "column_name", "datatype_name": "data_type_name", "constraint_name": "constraint_name",
                  "severity_nonlocalized": "severity_en"}


def error_of(exc):
    """SQLSTATE, primary message and the other fields of a driver's error, whatever the library."""
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if state is None:
        return {"class": type(exc).__name__, "message": str(exc).strip().split("\n")[0]}
    out = {"sqlstate": state}
    diag = getattr(exc, "diag", None)
    if diag is not None:  # psycopg, psycopg2
        out["message"] = diag.message_primary
        for f in FIELDS:
            v = getattr(diag, {"detail": "message_detail", "hint": "message_hint"}.get(f, f), None)
            if v is not None:
                out[f] = v
    else:  # asyncpg
        out["message"] = getattr(exc, "message", None) or str(exc)
        for f, attr in ASYNCPG_FIELDS.items():
            v = getattr(exc, attr, None)
            if v is not None:
                out[f] = v
    if out.get("message") is None:
        out["message"] = str(exc).strip().split("\n")[0]
    return out


class Transcript:
    def __init__(self):
        self.out = sys.stdout

    def emit(self, record):
        self.out.write(json.dumps(record, sort_keys=True) + "\n")
        self.out.flush()

    def step(self, name, fn, timeout=15):
        """
        Run fn() and write its result or error; return the result (None after an error). A step
        that does not finish within `timeout` seconds ends the probe (exit status 3) with the
        step's name and the stack it waits in on stderr: a hang fails the comparison, never the
        test run.
        """
        sys.stderr.write(f"step {name}\n")
        faulthandler.dump_traceback_later(timeout, exit=True)
        started = time.monotonic()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - every error is part of the transcript
            self.emit({"step": name, "error": error_of(exc)})
            return None
        finally:
            faulthandler.cancel_dump_traceback_later()
            sys.stderr.write(f"  {time.monotonic() - started:.2f} s\n")
        self.emit({"step": name, "result": plain(result)})
        return result

    async def astep(self, name, coro_fn, timeout=15):
        import asyncio

        sys.stderr.write(f"step {name}\n")
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(coro_fn(), timeout)
        except asyncio.TimeoutError:
            self.emit({"step": name, "error": {"class": "Timeout", "message": f"no answer within {timeout} s"}})
            raise SystemExit(3)
        except Exception as exc:  # noqa: BLE001
            self.emit({"step": name, "error": error_of(exc)})
            return None
        finally:
            sys.stderr.write(f"  {time.monotonic() - started:.2f} s\n")
        self.emit({"step": name, "result": plain(result)})
        return result
