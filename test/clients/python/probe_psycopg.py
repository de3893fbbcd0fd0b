"""
What applications (and Python MCP servers for PostgreSQL) do with psycopg 3: parameterised
queries of many types in text and binary formats, executemany, transactions and savepoints,
errors and recovery, server-side cursors, COPY, prepared statements, pipeline mode, LISTEN/NOTIFY,
cancel and a connection pool. Usage: probe_psycopg.py DSN [compat|mask]. Prints a transcript
(see transcript.py).
"""
import datetime
import decimal
import sys
import threading
import time
import uuid

import psycopg
from psycopg import sql
from psycopg.types.json import Json, Jsonb

from transcript import REFUSED, Transcript

T = Transcript()
DSN = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "compat"

ROWS = [
    (1, "alpha", 3, decimal.Decimal("12.50"), b"\x00\x01\xff", datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc),
     datetime.date(2024, 2, 29), {"a": 1, "b": [1, 2]}, {"k": "v", "n": None}, ["x", "y z", None], [1, 2, 3],
     uuid.UUID("12345678-1234-5678-1234-567812345678")),
    (2, "beta", None, None, None, None, None, None, None, None, None, None),
    (3, "gamma 'quoted' \\ back", -7, decimal.Decimal("-0.01"), b"", datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
     datetime.date(1, 1, 1), [], {}, [], [], uuid.UUID(int=0)),
]


def connect(**kw):
    return psycopg.connect(DSN, **kw)


def compat():
    conn = T.step("connect", lambda: connect())
    T.step("parameter status", lambda: {k: conn.info.parameter_status(k) for k in ("server_version", "client_encoding", "DateStyle", "integer_datetimes", "standard_conforming_strings", "IntervalStyle")})
    T.step("transaction status after connect", lambda: conn.info.transaction_status.name)

    def setup():
        conn.execute("drop table if exists pyg_items")
        conn.execute("drop table if exists pyg_copy")
        conn.execute("""create table pyg_items (id int primary key, name text unique, qty int, price numeric(10,2), data bytea,
                        ts timestamptz, d date, j json, jb jsonb, tags text[], nums int[], u uuid)""")
        conn.execute("create table pyg_copy (id int, t text, n numeric, b bytea)")
        conn.commit()
        return "ok"

    T.step("setup", setup)

    def insert_rows():
        with conn.cursor() as cur:
            for r in ROWS:
                cur.execute("insert into pyg_items values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id, name",
                            (*r[:7], Json(r[7]) if r[7] is not None else None, Jsonb(r[8]) if r[8] is not None else None, *r[9:]))
                cur.fetchone()
        conn.commit()
        return "inserted"

    T.step("insert many types", insert_rows)
    T.step("select text format", lambda: conn.execute("select * from pyg_items order by id").fetchall())
    T.step("select binary format", lambda: conn.cursor(binary=True).execute("select * from pyg_items order by id").fetchall())
    T.step("binary parameters", lambda: conn.cursor(binary=True).execute(
        "select %b::int + 1, %b::text || '!', %b::bytea, %b::numeric * 2, %b::uuid, %b::timestamptz, %b::int[]",
        (41, "hi", b"\x01\x02", decimal.Decimal("1.25"), uuid.UUID(int=5), datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc), [1, None, 3])).fetchone())
    T.step("description", lambda: [(d.name, d.type_code) for d in conn.execute("select * from pyg_items limit 0").description])
    T.step("server types to python", lambda: conn.execute(
        "select interval '1 day 2 hours', time '12:34:56', inet '10.0.0.1/8', 1.5::float8, true, null::int, 'x'::char(3), array[[1,2],[3,4]], numrange(1, 5), '{\"a\": [1, {\"b\": null}]}'::jsonb").fetchone())
    T.step("where in any()", lambda: conn.execute("select id from pyg_items where id = any(%s) order by id", ([1, 3],)).fetchall())
    T.step("null parameter", lambda: conn.execute("select %s::text is null, %s::int", (None, None)).fetchone())
    T.step("sql composition", lambda: conn.execute(sql.SQL("select {} from {} where {} = %s").format(sql.Identifier("name"), sql.Identifier("pyg_items"), sql.Identifier("id")), (1,)).fetchone())
    conn.rollback()

    def executemany():
        with conn.cursor() as cur:
            cur.executemany("insert into pyg_copy (id, t, n, b) values (%s, %s, %s, %s)", [(i, f"row {i}", decimal.Decimal(i) / 4, bytes([i])) for i in range(10)])
            rc = cur.rowcount
        conn.commit()
        return rc

    T.step("executemany", executemany)

    def executemany_returning():
        with conn.cursor() as cur:
            cur.executemany("insert into pyg_copy (id, t) values (%s, %s) returning id * 10", [(100 + i, "r") for i in range(3)], returning=True)
            got = []
            while True:
                got.append(cur.fetchone())
                if not cur.nextset():
                    break
        conn.rollback()
        return got

    T.step("executemany returning", executemany_returning)

    # Transactions, savepoints and errors.
    def tx_commit():
        with conn.transaction():
            conn.execute("update pyg_items set qty = qty + 1 where id = 1")
            with conn.transaction():  # a savepoint
                conn.execute("update pyg_items set qty = 100 where id = 3")
            try:
                with conn.transaction():
                    conn.execute("update pyg_items set qty = 999 where id = 1")
                    raise RuntimeError("roll back to the savepoint")
            except RuntimeError:
                pass
        return conn.execute("select id, qty from pyg_items order by id").fetchall()

    T.step("transaction with savepoints", tx_commit)
    conn.commit()
    T.step("unique violation", lambda: conn.execute("insert into pyg_items (id, name) values (10, 'alpha')"))
    T.step("statement in failed block", lambda: conn.execute("select 1"))
    T.step("transaction status in failed block", lambda: conn.info.transaction_status.name)
    T.step("rollback", lambda: conn.rollback())
    T.step("usable after rollback", lambda: conn.execute("select count(*) from pyg_items").fetchone())

    def savepoint_recovery():
        conn.execute("savepoint s1")
        try:
            conn.execute("insert into pyg_items (id, name) values (1, 'dup')")
        except psycopg.errors.UniqueViolation as e:
            conn.execute("rollback to savepoint s1")
            r = (e.sqlstate, e.diag.constraint_name, e.diag.table_name, conn.execute("select count(*) from pyg_items").fetchone())
        conn.rollback()
        return r

    T.step("recover with rollback to savepoint", savepoint_recovery)
    T.step("division by zero", lambda: conn.execute("select 1 / (id - id) from pyg_items"))
    conn.rollback()
    T.step("syntax error", lambda: conn.execute("selec 1"))
    conn.rollback()
    T.step("undefined table", lambda: conn.execute("select * from pyg_missing"))
    conn.rollback()
    T.step("undefined column", lambda: conn.execute("select nope from pyg_items"))
    conn.rollback()
    T.step("invalid input syntax for parameter", lambda: conn.execute("select %s::int", ("abc",)))
    conn.rollback()
    T.step("raise exception from plpgsql", lambda: conn.execute("do $$ begin raise exception 'custom failure %', 42 using errcode = 'P0001', hint = 'a hint'; end $$"))
    conn.rollback()

    def notices():
        got = []
        conn.add_notice_handler(lambda d: got.append((d.severity, d.sqlstate, d.message_primary)))
        conn.execute("do $$ begin raise notice 'hello %', 1; raise warning 'careful'; end $$")
        conn.rollback()
        return got

    T.step("notices", notices)

    # Autocommit.
    ac = T.step("connect autocommit", lambda: connect(autocommit=True))
    T.step("autocommit insert", lambda: ac.execute("insert into pyg_copy (id, t) values (500, 'ac')").rowcount)
    T.step("autocommit transaction status", lambda: ac.info.transaction_status.name)
    T.step("autocommit error", lambda: ac.execute("insert into pyg_items (id, name) values (1, 'x')"))
    T.step("autocommit after error", lambda: ac.execute("select count(*) from pyg_copy where id = 500").fetchone())

    def ac_block():
        with ac.transaction():
            ac.execute("insert into pyg_copy (id) values (501)")
        with ac.transaction():
            ac.execute("insert into pyg_copy (id) values (502)")
            ac.execute("rollback")  # an explicit rollback inside, as some apps do
        return ac.execute("select array_agg(id order by id) from pyg_copy where id > 500").fetchone()

    T.step("autocommit transaction blocks", ac_block)

    # Server-side cursors.
    def named_cursor():
        with conn.cursor(name="pyg_cur") as cur:
            cur.itersize = 4
            cur.execute("select g, g * 2 from generate_series(1, 25) g")
            first = cur.fetchmany(3)
            second = cur.fetchmany(5)
            cur.scroll(0, mode="absolute")
            again = cur.fetchone()
            rest = list(cur)
        conn.commit()
        return [first, second, again, len(rest), rest[-1]]

    T.step("named cursor fetchmany and scroll", named_cursor)

    def named_cursor_binary_params():
        with conn.cursor(name="pyg_cur2", binary=True, scrollable=False) as cur:
            cur.execute("select id, name, price, u from pyg_items where id >= %s order by id", (1,))
            rows = cur.fetchall()
        conn.commit()
        return rows

    T.step("named binary cursor with parameters", named_cursor_binary_params)

    def withhold():
        with conn.cursor(name="pyg_hold", withhold=True) as cur:
            cur.execute("select g from generate_series(1, 5) g")
            conn.commit()
            return cur.fetchall()

    T.step("withhold cursor across commit", withhold)
    T.step("named cursor error", lambda: conn.cursor(name="pyg_bad").execute("select * from pyg_missing"))
    conn.rollback()

    # COPY.
    def copy_in():
        with conn.cursor() as cur:
            with cur.copy("copy pyg_copy (id, t, n, b) from stdin") as copy:
                for i in range(20, 30):
                    copy.write_row((i, f"copied\t{i}\n", decimal.Decimal(i) / 3, b"\x00\\" + bytes([i])))
            n = cur.rowcount
        conn.commit()
        return n

    T.step("copy from stdin (text)", copy_in)

    def copy_in_binary():
        with conn.cursor() as cur:
            with cur.copy("copy pyg_copy (id, t) from stdin (format binary)") as copy:
                copy.set_types(["int4", "text"])
                for i in range(40, 45):
                    copy.write_row((i, f"bin {i}"))
        conn.commit()
        return "ok"

    T.step("copy from stdin (binary)", copy_in_binary)

    def copy_out():
        with conn.cursor() as cur:
            with cur.copy("copy (select id, t, n, b from pyg_copy order by id) to stdout") as copy:
                return [row for row in copy.rows()]

    T.step("copy to stdout (rows)", copy_out)

    def copy_out_raw():
        with conn.cursor() as cur:
            with cur.copy("copy (select id, t from pyg_copy where id < 3 order by id) to stdout with (format csv, header)") as copy:
                return b"".join(bytes(b) for b in copy)

    T.step("copy to stdout (csv blocks)", copy_out_raw)

    def copy_out_binary():
        with conn.cursor() as cur:
            with cur.copy("copy (select id, t from pyg_copy where id >= 40 order by id) to stdout (format binary)") as copy:
                copy.set_types(["int4", "text"])
                return list(copy.rows())

    T.step("copy to stdout (binary)", copy_out_binary)
    conn.commit()

    def copy_error():
        with conn.cursor() as cur:
            with cur.copy("copy pyg_copy (id) from stdin") as copy:
                copy.write(b"1\nnot a number\n")

    T.step("copy from stdin with bad data", copy_error)
    T.step("status after copy error", lambda: conn.info.transaction_status.name)
    conn.rollback()
    T.step("usable after copy error", lambda: conn.execute("select count(*) from pyg_copy").fetchone())
    conn.commit()

    # Prepared statements.
    def prepared():
        out = []
        for i in range(3):
            out.append(conn.execute("select name from pyg_items where id = %s", (i + 1,), prepare=True).fetchone())
        out.append(conn.execute("select count(*) from pg_prepared_statements where not from_sql").fetchone())
        conn.commit()
        return out

    T.step("prepare=True", prepared)

    def threshold():
        c = connect()
        c.prepare_threshold = 0
        out = []
        for i in range(4):
            out.append(c.execute("select %s::int * 2, %s::text", (i, f"t{i}")).fetchone())
        c.execute("create temp table pyg_tmp (x int)")
        out.append(c.execute("select count(*) from pg_prepared_statements").fetchone())
        c.execute("alter table pyg_items add column extra int")
        try:
            out.append(c.execute("select * from pyg_items where id = %s", (1,)).fetchone())
        except psycopg.Error as e:
            out.append(("error", e.sqlstate))
        c.rollback()
        c.close()
        return out

    T.step("prepare_threshold=0", threshold)

    def prepared_ddl_change():
        c = connect(autocommit=True)
        c.prepare_threshold = 0
        out = [c.execute("select * from pyg_copy where id = %s", (1,)).fetchone()]
        c.execute("alter table pyg_copy add column extra int")
        try:
            out.append(c.execute("select * from pyg_copy where id = %s", (1,)).fetchone())
        except psycopg.Error as e:
            out.append(["error", e.sqlstate, e.diag.message_primary])
        try:
            out.append(c.execute("select * from pyg_copy where id = %s", (1,)).fetchone())
        except psycopg.Error as e:
            out.append(["error again", e.sqlstate])
        out.append(c.execute("select * from pyg_copy where id = %s", (1,), prepare=False).fetchone())
        c.execute("alter table pyg_copy drop column extra")
        c.close()
        return out

    T.step("prepared statement after its table changed", prepared_ddl_change)

    # Pipeline mode.
    def pipeline():
        c = connect(autocommit=True)
        out = []
        with c.pipeline() as p:
            cur1 = c.execute("select 1")
            cur2 = c.execute("select %s::text", ("two",))
            cur3 = c.cursor(binary=True).execute("select %s::int", (3,))
            p.sync()
            out += [cur1.fetchone(), cur2.fetchone(), cur3.fetchone()]
        try:
            with c.pipeline():
                c.execute("insert into pyg_copy (id, t) values (%s, %s)", (900, "p"))
                c.execute("select 1 / 0")
                c.execute("insert into pyg_copy (id, t) values (%s, %s)", (901, "p"))
        except psycopg.Error as e:
            out.append(["error", e.sqlstate, e.diag.message_primary])
        out.append(c.execute("select array_agg(id order by id) from pyg_copy where id >= 900").fetchone())
        with c.transaction():
            with c.pipeline():
                with c.cursor() as cur:
                    cur.executemany("insert into pyg_copy (id, t) values (%s, %s)", [(910 + i, "pm") for i in range(5)])
        out.append(c.execute("select count(*) from pyg_copy where id >= 910").fetchone())
        try:
            with c.transaction():
                with c.pipeline():
                    c.execute("insert into pyg_copy (id, t) values (%s, %s)", (920, "x"))
                    c.execute("select * from pyg_missing")
        except psycopg.Error as e:
            out.append(["error", e.sqlstate, e.diag.message_primary])
        out.append(c.execute("select count(*) from pyg_copy where id = 920").fetchone())
        out.append(c.info.transaction_status.name)
        c.close()
        return out

    T.step("pipeline mode", pipeline)

    # LISTEN / NOTIFY.
    def listen_notify():
        listener = connect(autocommit=True)
        got = []
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload, n.pid)))
        backend_pid = listener.execute("select pg_backend_pid()").fetchone()[0]
        listener.execute("listen pyg_channel")
        with connect(autocommit=True) as sender:
            sender.execute("notify pyg_channel, 'hello'")
            sender.execute("select pg_notify('pyg_channel', %s)", ("from a function",))
        listener.execute("select pg_notify('pyg_channel', 'self')")
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            listener.execute("select 1")
            time.sleep(0.05)
        listener.execute("unlisten *")
        listener.close()
        # The pid in a notification is the backend's, so it equals pg_backend_pid() for the
        # listener's own notification (the BackendKeyData pid is the gateway's: not compared).
        return [(ch, payload) for ch, payload, _ in got] + [["own pid", [pid == backend_pid for _, _, pid in got]]]

    T.step("listen/notify", listen_notify)

    # Cancel.
    def cancel():
        c = connect()
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        try:
            c.execute("select pg_sleep(10)")
            res = "not cancelled"
        except psycopg.errors.QueryCanceled as e:
            res = ["cancelled", e.sqlstate, e.diag.message_primary]
        finally:
            timer.join()
        status = c.info.transaction_status.name
        c.rollback()
        after = c.execute("select 'usable'").fetchone()
        c.close()
        return [res, status, after]

    T.step("cancel a long query", cancel)

    def cancel_pipeline_and_copy():
        c = connect(autocommit=True)
        out = []
        timer = threading.Timer(0.4, c.cancel)
        timer.start()
        try:
            with c.pipeline():
                c.execute("select pg_sleep(5)")
                c.execute("select %s::int", (1,))
            out.append("not cancelled")
        except psycopg.Error as e:
            out.append([e.sqlstate, e.diag.message_primary])
        timer.join()
        out.append(c.execute("select 'usable'").fetchone())
        c.execute("create temp table pyg_sink (a int, b text)")
        timer = threading.Timer(0.4, c.cancel)
        timer.start()
        try:
            with c.cursor() as cur:
                with cur.copy("copy pyg_sink from stdin") as copy:
                    # psycopg reports the server's error when the COPY ends: rows go on for a
                    # second, well past the cancel.
                    until = time.monotonic() + 1
                    for i in range(2000000):
                        copy.write_row((i, "x" * 50))
                        if i % 1000 == 0 and time.monotonic() > until:
                            break
            out.append("not cancelled")
        except psycopg.Error as e:
            out.append([e.sqlstate, e.diag.message_primary])
        timer.join()
        out.append(c.execute("select count(*) from pyg_sink").fetchone())
        c.close()
        return out

    T.step("cancel a pipeline and a COPY in", cancel_pipeline_and_copy)

    def statement_timeout():
        c = connect()
        c.execute("set statement_timeout = 200")
        try:
            c.execute("select pg_sleep(5)")
        except psycopg.Error as e:
            res = [e.sqlstate, e.diag.message_primary]
        c.rollback()
        res.append(c.execute("show statement_timeout").fetchone())
        c.close()
        return res

    T.step("statement_timeout", statement_timeout)

    def big_result():
        rows = conn.execute("select g, repeat('x', 100) from generate_series(1, 20000) g").fetchall()
        conn.commit()
        return [len(rows), rows[-1][0]]

    T.step("large result", big_result)

    def settings():
        c = connect()
        c.execute("set application_name = 'probe'")
        c.execute("set timezone = 'America/New_York'")
        r = c.execute("select current_setting('application_name'), current_setting('TimeZone'), timestamptz '2024-06-01 12:00:00+00'").fetchone()
        r2 = c.info.parameter_status("TimeZone"), c.info.parameter_status("application_name")
        c.close()
        return [r, r2]

    T.step("session settings", settings)

    T.step("several statements, no parameters (simple query)", lambda: [conn.execute("select 1; select 2").fetchall(), conn.rollback()][0])
    T.step("several statements with parameters (one Parse)", lambda: conn.execute("select %s; select 2", (1,)))
    conn.rollback()

    def streamed():
        with conn.cursor() as cur:
            return [r for r in cur.stream("select g, g::text from generate_series(1, 7) g")]

    T.step("stream (single-row mode)", streamed)
    conn.rollback()

    def options_at_connect():
        c = connect(options="-c search_path=pyg_schema,public -c statement_timeout=12345", application_name="probe app")
        out = [c.execute("show search_path").fetchone(), c.execute("show statement_timeout").fetchone(), c.execute("show application_name").fetchone()]
        c.execute("create schema if not exists pyg_schema")
        c.execute("create table if not exists pyg_in_schema (x int)")
        out.append(c.execute("select count(*) from pyg_in_schema").fetchone())
        out.append(c.execute("select relnamespace::regnamespace::text from pg_class where relname = 'pyg_in_schema'").fetchone())
        c.execute("drop table pyg_in_schema")
        c.commit()
        c.close()
        return out

    T.step("options and application_name at connect", options_at_connect)

    def set_search_path():
        c = connect(autocommit=True)
        c.execute("create schema if not exists pyg_schema")
        c.execute("drop table if exists pyg_schema.pyg_sp")
        c.execute("set search_path to pyg_schema, public")
        c.execute("create table pyg_sp (x int)")
        c.execute("insert into pyg_sp values (1)")
        out = [c.execute("select count(*) from pyg_sp").fetchone(), c.execute("select count(*) from pyg_schema.pyg_sp").fetchone(), c.execute("select current_schemas(false)").fetchone()]
        c.execute("reset search_path")
        try:
            out.append(c.execute("select count(*) from pyg_sp").fetchone())
        except psycopg.Error as e:
            out.append([e.sqlstate, e.diag.message_primary])
        c.execute("drop table pyg_schema.pyg_sp")
        c.close()
        return out

    T.step("set search_path and back", set_search_path)

    def composite_enum():
        from psycopg.types.composite import CompositeInfo, register_composite
        from psycopg.types.enum import EnumInfo, register_enum

        c = connect()
        c.execute("drop table if exists pyg_typed; drop type if exists pyg_pair; drop type if exists pyg_mood")
        c.execute("create type pyg_pair as (label text, n int); create type pyg_mood as enum ('sad', 'happy')")
        c.execute("create table pyg_typed (p pyg_pair, m pyg_mood, ms pyg_mood[])")
        c.commit()
        info = CompositeInfo.fetch(c, "pyg_pair")
        register_composite(info, c)
        einfo = EnumInfo.fetch(c, "pyg_mood")
        register_enum(einfo, c)
        c.execute("insert into pyg_typed values (%s, %s, %s)", (info.python_type("a", 1), einfo.enum.happy, [einfo.enum.sad]))
        out = [c.execute("select p, m, ms from pyg_typed").fetchone(), c.cursor(binary=True).execute("select p, m, ms from pyg_typed").fetchone()]
        c.commit()
        c.close()
        return [[getattr(x, "name", None) or x for x in row] if isinstance(row, tuple) else row for row in out]

    T.step("composite and enum introspection", composite_enum)

    def big_values():
        c = connect(autocommit=True)
        blob = bytes(range(256)) * 20000  # 5 MB
        out = [c.execute("select length(%s::bytea), md5(%s::bytea)", (blob, blob)).fetchone()]
        out.append(len(c.cursor(binary=True).execute("select %b::bytea", (blob,)).fetchone()[0]))
        with c.cursor() as cur:
            with cur.copy("copy pyg_copy (id, t) from stdin") as copy:
                for i in range(100000):
                    copy.write_row((1000 + i, "x" * 40))
            out.append(cur.rowcount)
        out.append(c.execute("select count(*) from pyg_copy where id >= 1000").fetchone())
        c.execute("delete from pyg_copy where id >= 1000")
        c.close()
        return out

    T.step("large parameters and a large COPY", big_values, timeout=30)

    def idle_timeout():
        c = connect()
        c.execute("set idle_in_transaction_session_timeout = 300")
        time.sleep(1)
        try:
            c.execute("select 1")
            r = "still open"
        except psycopg.Error as e:
            r = [type(e).__name__, e.sqlstate, str(e).strip().split("\n")[0]]
        out = [r, c.closed, c.info.status.name]
        c.close()
        return out

    T.step("idle_in_transaction_session_timeout ends the session", idle_timeout)

    def quoted_channel():
        c = connect(autocommit=True)
        got = []
        c.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        c.execute('listen "Weird Channel"')
        c.execute("select pg_notify('Weird Channel', repeat('p', 7000))")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            c.execute("select 1")
        c.close()
        return [(ch, len(p)) for ch, p in got]

    T.step("listen on a quoted channel, a long payload", quoted_channel)

    T.step("close", lambda: conn.close())
    T.step("closed", lambda: conn.closed)


def mask():
    conn = T.step("connect", lambda: connect(autocommit=True))
    T.step("text", lambda: conn.execute("select id, name, ssn from customers order by id").fetchall())
    T.step("text with parameter", lambda: conn.execute("select ssn, name from customers where id = %s", (2,)).fetchall())
    T.step("binary", lambda: conn.cursor(binary=True).execute("select id, ssn, name from customers order by id").fetchall())
    T.step("binary prepared", lambda: [conn.cursor(binary=True).execute("select ssn from customers where id = %s", (i,), prepare=True).fetchall() for i in (1, 2, 3)])

    def named():
        with conn.transaction():
            with conn.cursor(name="masked_cur", binary=True) as cur:
                cur.execute("select id, ssn from customers order by id")
                return cur.fetchmany(2) + cur.fetchall()

    T.step("named binary cursor", named)

    def pipeline():
        with conn.pipeline():
            a = conn.execute("select ssn from customers where id = %s", (1,))
            b = conn.cursor(binary=True).execute("select ssn from customers where id = %s", (2,))
        return [a.fetchall(), b.fetchall()]

    T.step("pipeline", pipeline)

    def copy_out():
        with conn.cursor() as cur:
            with cur.copy("copy (select id, ssn from customers order by id) to stdout") as copy:
                return b"".join(bytes(b) for b in copy).decode()

    T.step("copy out", copy_out)
    conn.close()


def refusals():
    """Statements the gateway refuses, in every position the library can send them: each is
    answered (no wait) and the connection goes on. Run through the gateway only."""
    conn = T.step("connect", lambda: connect())
    T.step("refused: simple query", lambda: conn.execute(REFUSED))
    conn.rollback()
    T.step("after: simple query", lambda: conn.execute("select 1").fetchone())
    T.step("refused: with parameters", lambda: conn.execute(REFUSED + " where pid > %s", (0,)))
    conn.rollback()
    T.step("after: with parameters", lambda: conn.execute("select %s::int", (2,)).fetchone())
    T.step("refused: binary, prepared", lambda: conn.cursor(binary=True).execute(REFUSED + " where pid > %s", (0,), prepare=True))
    conn.rollback()
    T.step("after: binary, prepared", lambda: conn.cursor(binary=True).execute("select %s::int", (3,), prepare=True).fetchone())

    def in_transaction():
        conn.execute("insert into pyg_copy (id) values (-1)")
        try:
            conn.execute(REFUSED)
        finally:
            status.append(conn.info.transaction_status.name)
            conn.rollback()

    status = []
    T.step("refused: in a transaction", in_transaction)
    T.step("after: in a transaction", lambda: [status, conn.execute("select count(*) from pyg_copy where id = -1").fetchone()])
    conn.rollback()
    T.step("refused: named cursor", lambda: conn.cursor(name="refused_cur").execute(REFUSED))
    conn.rollback()
    T.step("after: named cursor", lambda: [conn.cursor(name="ok_cur").execute("select 4").fetchall(), conn.rollback()][0])

    def pipeline():
        with conn.pipeline():
            conn.execute("select 1")
            conn.execute(REFUSED + " where pid > %s", (0,))
            conn.execute("select 2")

    T.step("refused: in a pipeline", pipeline)
    conn.rollback()

    def after_pipeline():
        with conn.pipeline():
            a = conn.execute("select 5")
            b = conn.execute("select %s::int", (6,))
        r = [a.fetchone(), b.fetchone()]
        conn.rollback()
        return r

    T.step("after: in a pipeline", after_pipeline)
    T.step("refused: executemany", lambda: conn.cursor().executemany("insert into pyg_copy (id, t) select %s, state from pg_stat_activity limit 1", [(1,), (2,)]))
    conn.rollback()
    T.step("after: executemany", lambda: [conn.cursor().executemany("select %s::int", [(7,), (8,)]), conn.rollback(), "ok"][2])

    def copy_out():
        with conn.cursor() as cur:
            with cur.copy("copy (select * from pg_stat_activity) to stdout") as copy:
                return list(copy)

    T.step("refused: copy to stdout", copy_out)
    conn.rollback()
    def copy_after():
        with conn.cursor() as cur:
            with cur.copy("copy (select 9) to stdout") as copy:
                data = b"".join(bytes(b) for b in copy)
        conn.rollback()
        return data.decode()

    T.step("after: copy to stdout", copy_after)
    T.step("refused: second statement of a query string", lambda: conn.execute("select 1; " + REFUSED))
    conn.rollback()
    T.step("after: second statement of a query string", lambda: conn.execute("select 10").fetchone())
    conn.close()


{"compat": compat, "mask": mask, "refusals": refusals}[MODE]()
