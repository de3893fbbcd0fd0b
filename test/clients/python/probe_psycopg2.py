"""
What applications (and Python MCP servers for PostgreSQL) do with psycopg2 (libpq, simple query
protocol with client-side parameters): many types, executemany and execute_values, transactions
and savepoints, errors and recovery, named (server-side) cursors, COPY, LISTEN/NOTIFY, cancel and
its connection pool. Usage: probe_psycopg2.py DSN [compat|mask]. Prints a transcript (see
transcript.py).
"""
import datetime
import decimal
import io
import select
import sys
import threading
import time
import uuid

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from transcript import REFUSED, Transcript

T = Transcript()
DSN = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "compat"
psycopg2.extras.register_uuid()


def connect(**kw):
    return psycopg2.connect(DSN, **kw)


def run(conn, query, args=None, fetch="all"):
    with conn.cursor() as cur:
        cur.execute(query, args)
        if fetch == "all":
            return cur.fetchall()
        if fetch == "one":
            return cur.fetchone()
        return cur.rowcount


def compat():
    conn = T.step("connect", lambda: connect())
    T.step("server version and encoding", lambda: [conn.server_version, conn.encoding, conn.get_parameter_status("integer_datetimes")])

    def setup():
        run(conn, """drop table if exists pg2_items; drop table if exists pg2_copy;
            create table pg2_items (id int primary key, name text unique, qty int, price numeric(10,2), data bytea,
                                    ts timestamptz, d date, j json, jb jsonb, tags text[], nums int[], u uuid);
            create table pg2_copy (id int, t text, n numeric)""", fetch=None)
        conn.commit()
        del conn.notices[:]  # "does not exist, skipping" only on the first run
        return "ok"

    T.step("setup", setup)

    def insert():
        values = [
            (1, "alpha", 3, decimal.Decimal("12.50"), psycopg2.Binary(b"\x00\x01\xff"), datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc),
             datetime.date(2024, 2, 29), psycopg2.extras.Json({"a": 1}), psycopg2.extras.Json({"k": [1, None]}), ["x", None, "y z"], [1, 2, 3],
             uuid.UUID("12345678-1234-5678-1234-567812345678")),
            (2, "beta", None, None, None, None, None, None, None, None, None, None),
            (3, "gamma 'q' \\ %s", -7, decimal.Decimal("-0.01"), psycopg2.Binary(b""), datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
             datetime.date(1, 1, 1), psycopg2.extras.Json([]), psycopg2.extras.Json({}), [], [], uuid.UUID(int=0)),
        ]
        with conn.cursor() as cur:
            cur.executemany("insert into pg2_items values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", values)
            n = cur.rowcount
        conn.commit()
        return n

    T.step("executemany many types", insert)
    T.step("select many types", lambda: run(conn, "select * from pg2_items order by id"))

    def dict_rows():
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("select id, name from pg2_items where id = %(id)s", {"id": 1})
            return [dict(r) for r in cur.fetchall()]

    T.step("named parameters, dict rows", dict_rows)
    T.step("description", lambda: [(d.name, d.type_code) for d in _described(conn).description])
    T.step("server types", lambda: run(conn, "select interval '1 day 2 hours', time '12:34:56', inet '10.0.0.1/8', 1.5::float8, true, null::int, array[[1,2],[3,4]], 'NaN'::numeric", fetch="one"))
    T.step("in tuple", lambda: run(conn, "select id from pg2_items where id in %s order by id", ((1, 3),)))
    T.step("mogrify", lambda: conn.cursor().mogrify("select %s, %s, %s", ("it's", None, [1, 2])).decode())
    conn.rollback()

    def execute_values():
        with conn.cursor() as cur:
            psycopg2.extras.execute_values(cur, "insert into pg2_copy (id, t) values %s returning id", [(i, f"v{i}") for i in range(10)], fetch=True)
            got = cur.fetchall() if cur.description else None
        conn.commit()
        return got

    T.step("execute_values", lambda: execute_values() or "ok")
    T.step("execute_batch", lambda: (psycopg2.extras.execute_batch(conn.cursor(), "update pg2_copy set n = %s where id = %s", [(i * 1.5, i) for i in range(10)], page_size=3), conn.commit(), run(conn, "select sum(n) from pg2_copy"))[2])

    def tx():
        with conn:
            run(conn, "update pg2_items set qty = qty + 1 where id = 1", fetch=None)
            run(conn, "savepoint a", fetch=None)
            run(conn, "update pg2_items set qty = 999 where id = 1", fetch=None)
            run(conn, "rollback to savepoint a", fetch=None)
            run(conn, "release savepoint a", fetch=None)
        return run(conn, "select id, qty from pg2_items order by id")

    T.step("transaction with savepoint", tx)
    conn.rollback()
    T.step("unique violation", lambda: run(conn, "insert into pg2_items (id, name) values (10, 'alpha')", fetch=None))
    T.step("statement in failed block", lambda: run(conn, "select 1"))
    T.step("transaction status in failed block", lambda: conn.get_transaction_status())
    T.step("rollback", lambda: conn.rollback())
    T.step("usable after rollback", lambda: run(conn, "select count(*) from pg2_items"))
    T.step("division by zero", lambda: run(conn, "select 1 / (id - id) from pg2_items"))
    conn.rollback()
    T.step("syntax error", lambda: run(conn, "selec 1"))
    conn.rollback()
    T.step("undefined table", lambda: run(conn, "select * from pg2_missing"))
    conn.rollback()
    T.step("several statements in one string, the second failing", lambda: run(conn, "insert into pg2_copy (id) values (77); select 1/0; insert into pg2_copy (id) values (78)", fetch=None))
    conn.rollback()
    T.step("none of them ran", lambda: run(conn, "select count(*) from pg2_copy where id in (77, 78)"))
    conn.rollback()

    def notices():
        run(conn, "do $$ begin raise notice 'hello %', 1; raise warning 'careful'; end $$", fetch=None)
        conn.rollback()
        got = [n.strip() for n in conn.notices]
        del conn.notices[:]
        return got

    T.step("notices", notices)

    def autocommit():
        c = connect()
        c.autocommit = True
        out = [run(c, "insert into pg2_copy (id, t) values (500, 'ac')", fetch=None), c.get_transaction_status()]
        try:
            run(c, "insert into pg2_items (id) values (1)", fetch=None)
        except psycopg2.Error as e:
            out.append([e.pgcode, e.diag.message_primary])
        out.append(run(c, "select count(*) from pg2_copy where id = 500"))
        c.set_session(isolation_level="SERIALIZABLE", readonly=True, autocommit=False)
        out.append(run(c, "select current_setting('transaction_isolation'), current_setting('transaction_read_only')"))
        c.close()
        return out

    T.step("autocommit and set_session", autocommit)

    def named_cursor():
        with conn.cursor("pg2_cur") as cur:
            cur.itersize = 4
            cur.execute("select g, g * 2 from generate_series(1, %s) g", (25,))
            first = cur.fetchmany(3)
            second = cur.fetchmany(5)
            one = cur.fetchone()
            rest = list(cur)
        conn.commit()
        return [first, second, one, len(rest), rest[-1]]

    T.step("named cursor", named_cursor)

    def scroll_withhold():
        with conn.cursor("pg2_hold", withhold=True, scrollable=True) as cur:
            cur.execute("select g from generate_series(1, 5) g")
            conn.commit()
            a = cur.fetchall()
            cur.scroll(1, mode="absolute")
            return [a, cur.fetchone()]

    T.step("scrollable withhold cursor", scroll_withhold)
    T.step("named cursor error", lambda: conn.cursor("pg2_bad").execute("select * from pg2_missing"))
    conn.rollback()

    def copy_from():
        with conn.cursor() as cur:
            cur.copy_from(io.StringIO("".join(f"{i}\tcopied {i}\t{i / 4}\n" for i in range(20, 30))), "pg2_copy", columns=("id", "t", "n"))
            n = cur.rowcount
        conn.commit()
        return n

    T.step("copy_from", copy_from)

    def copy_expert_in():
        with conn.cursor() as cur:
            cur.copy_expert("copy pg2_copy (id, t) from stdin with (format csv)", io.StringIO('60,"csv, one"\n61,\n'))
        conn.commit()
        return "ok"

    T.step("copy_expert from stdin (csv)", copy_expert_in)

    def copy_to():
        out = io.StringIO()
        with conn.cursor() as cur:
            cur.copy_to(out, "pg2_copy", columns=("id", "t"))
        conn.commit()
        return sorted(out.getvalue().splitlines())

    T.step("copy_to", copy_to)

    def copy_expert_out():
        out = io.StringIO()
        with conn.cursor() as cur:
            cur.copy_expert("copy (select id, t from pg2_copy where id >= 20 order by id) to stdout with (format csv, header)", out)
        conn.commit()
        return out.getvalue()

    T.step("copy_expert to stdout (csv)", copy_expert_out)

    def copy_bad():
        with conn.cursor() as cur:
            cur.copy_from(io.StringIO("1\tx\t1\n2\ty\tnot numeric\n"), "pg2_copy", columns=("id", "t", "n"))

    T.step("copy_from with bad data", copy_bad)
    conn.rollback()
    T.step("usable after copy error", lambda: run(conn, "select count(*) from pg2_copy"))
    conn.rollback()

    def prepared_sql():
        out = []
        run(conn, "prepare pg2_q (int) as select name from pg2_items where id = $1", fetch=None)
        for i in (1, 2):
            out.append(run(conn, "execute pg2_q (%s)", (i,)))
        run(conn, "deallocate pg2_q", fetch=None)
        try:
            run(conn, "execute pg2_q (1)")
        except psycopg2.Error as e:
            out.append([e.pgcode, e.diag.message_primary])
        conn.rollback()
        return out

    T.step("PREPARE / EXECUTE / DEALLOCATE", prepared_sql)

    def listen_notify():
        listener = connect()
        listener.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        run(listener, "listen pg2_channel", fetch=None)
        own = run(listener, "select pg_backend_pid()", fetch="one")[0]
        sender = connect()
        sender.autocommit = True
        run(sender, "notify pg2_channel, 'hello'", fetch=None)
        run(sender, "select pg_notify('pg2_channel', %s)", ("from a function",), fetch=None)
        sender.close()
        run(listener, "notify pg2_channel, 'self'", fetch=None)
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            if select.select([listener], [], [], 0.2) != ([], [], []):
                listener.poll()
            while listener.notifies:
                n = listener.notifies.pop(0)
                got.append([n.channel, n.payload, n.pid == own])
        listener.close()
        return got

    T.step("listen/notify", listen_notify)

    def cancel():
        c = connect()
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        try:
            run(c, "select pg_sleep(10)")
            res = "not cancelled"
        except psycopg2.errors.QueryCanceled as e:
            res = ["cancelled", e.pgcode, e.diag.message_primary]
        finally:
            timer.join()
        status = c.get_transaction_status()
        c.rollback()
        after = run(c, "select 'usable'")
        c.close()
        return [res, status, after]

    T.step("cancel a long query", cancel)

    def pool():
        p = psycopg2.pool.ThreadedConnectionPool(1, 3, DSN)
        out = []

        def work(i):
            c = p.getconn()
            try:
                out.append(run(c, "select %s * 10", (i,), fetch="one")[0])
                c.rollback()
            finally:
                p.putconn(c)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        p.closeall()
        return sorted(out)

    T.step("ThreadedConnectionPool", pool)

    def big():
        r = run(conn, "select g, repeat('x', 100) from generate_series(1, 20000) g")
        conn.rollback()
        return [len(r), r[-1][0]]

    T.step("large result", big)
    def options_at_connect():
        c = connect(options="-c search_path=pg2_schema,public -c statement_timeout=12345", application_name="probe app")
        out = [run(c, "show search_path"), run(c, "show statement_timeout"), run(c, "show application_name")]
        run(c, "create schema if not exists pg2_schema; create table if not exists pg2_in_schema (x int)", fetch=None)
        out.append(run(c, "select relnamespace::regnamespace::text from pg_class where relname = 'pg2_in_schema'"))
        run(c, "drop table pg2_in_schema", fetch=None)
        c.commit()
        c.close()
        return out

    T.step("options and application_name at connect", options_at_connect)
    T.step("several statements: the last one's rows", lambda: [run(conn, "select 1; select 2, 3; select 'last'"), conn.rollback()][0])

    def large_parameter():
        # psycopg2 puts parameter values in the statement text: 5 MB of bytea is some 10 MB of hex.
        blob = bytes(range(256)) * 20000
        r = run(conn, "select length(%s), md5(%s)", (psycopg2.Binary(blob), psycopg2.Binary(blob)), fetch="one")
        conn.rollback()
        return r

    T.step("a 5 MB bytea parameter", large_parameter)
    conn.rollback()

    def large_copy():
        with conn.cursor() as cur:
            cur.copy_from(io.StringIO("".join(f"{1000 + i}\t{'x' * 40}\t{i}\n" for i in range(100000))), "pg2_copy", columns=("id", "t", "n"))
            n = cur.rowcount
        conn.rollback()
        return n

    T.step("a large COPY", large_copy, timeout=30)

    def idle_timeout():
        c = connect()
        run(c, "set idle_in_transaction_session_timeout = 300", fetch=None)
        time.sleep(1)
        try:
            run(c, "select 1")
            r = "still open"
        except psycopg2.Error as e:
            r = [type(e).__name__, e.pgcode, str(e).strip().split("\n")[0]]
        out = [r, c.closed]
        c.close()
        return out

    T.step("idle_in_transaction_session_timeout ends the session", idle_timeout)

    T.step("close", lambda: conn.close())
    T.step("closed", lambda: conn.closed)


def _described(conn):
    cur = conn.cursor()
    cur.execute("select * from pg2_items limit 0")
    return cur


def mask():
    conn = T.step("connect", lambda: connect())
    conn.autocommit = True
    T.step("select", lambda: run(conn, "select id, name, ssn from customers order by id"))
    T.step("select with parameter", lambda: run(conn, "select ssn, name from customers where id = %s", (2,)))

    def named():
        conn.autocommit = False
        with conn.cursor("masked_cur") as cur:
            cur.execute("select id, ssn from customers order by id")
            r = cur.fetchmany(2) + cur.fetchall()
        conn.commit()
        conn.autocommit = True
        return r

    T.step("named cursor", named)

    def copy_out():
        out = io.StringIO()
        with conn.cursor() as cur:
            cur.copy_expert("copy (select id, ssn from customers order by id) to stdout", out)
        return out.getvalue()

    T.step("copy_expert to stdout", copy_out)
    conn.close()


def refusals():
    """Statements the gateway refuses, in every position the library can send them: each is
    answered (no wait) and the connection goes on. Run through the gateway only."""
    conn = T.step("connect", lambda: connect())
    T.step("refused: query", lambda: run(conn, REFUSED))
    conn.rollback()
    T.step("after: query", lambda: run(conn, "select 1"))

    def in_transaction():
        run(conn, "insert into pg2_copy (id) values (-1)", fetch=None)
        try:
            run(conn, REFUSED + " where pid > %s", (0,))
        finally:
            status.append(conn.get_transaction_status())
            conn.rollback()

    status = []
    T.step("refused: in a transaction", in_transaction)
    T.step("after: in a transaction", lambda: [status, run(conn, "select count(*) from pg2_copy where id = -1")])
    conn.rollback()
    T.step("refused: named cursor", lambda: conn.cursor("refused_cur").execute(REFUSED))
    conn.rollback()

    def named_after():
        with conn.cursor("ok_cur") as cur:
            cur.execute("select 2")
            r = cur.fetchall()
        conn.rollback()
        return r

    T.step("after: named cursor", named_after)
    T.step("refused: executemany", lambda: conn.cursor().executemany("insert into pg2_copy (id, t) select %s, state from pg_stat_activity limit 1", [(1,), (2,)]))
    conn.rollback()
    T.step("after: executemany", lambda: [conn.cursor().executemany("insert into pg2_copy (id) values (%s)", [(-2,), (-3,)]), conn.rollback(), "ok"][2])
    T.step("refused: copy_expert to stdout", lambda: conn.cursor().copy_expert("copy (select * from pg_stat_activity) to stdout", io.StringIO()))
    conn.rollback()

    def copy_after():
        out = io.StringIO()
        conn.cursor().copy_expert("copy (select 3) to stdout", out)
        conn.rollback()
        return out.getvalue()

    T.step("after: copy_expert to stdout", copy_after)
    T.step("refused: second statement of a query string", lambda: run(conn, "select 1; " + REFUSED))
    conn.rollback()
    T.step("after: second statement of a query string", lambda: run(conn, "select 4"))

    def autocommit():
        conn.rollback()
        conn.autocommit = True
        try:
            run(conn, REFUSED)
        finally:
            status.append(conn.get_transaction_status())

    T.step("refused: autocommit", autocommit)
    T.step("after: autocommit", lambda: [status[-1], run(conn, "select 5")])
    conn.close()


{"compat": compat, "mask": mask, "refusals": refusals}[MODE]()
