"""
What applications (and Python MCP servers for PostgreSQL) do with asyncpg, which implements the
protocol itself: binary formats, its statement cache, type introspection queries against
pg_catalog (enums, composites, domains, arrays of them), set_type_codec, executemany, transactions
and savepoints, errors and recovery, cursors, COPY, prepared statements, LISTEN/NOTIFY, cancel
(a timeout) and a pool. Usage: probe_asyncpg.py DSN [compat|mask]. Prints a transcript (see
transcript.py).
"""
import asyncio
import datetime
import decimal
import json
import sys
import uuid

import asyncpg

from transcript import REFUSED, Transcript

T = Transcript()
DSN = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "compat"


def rows(records):
    return [list(r.values()) for r in records]


async def compat():
    conn = await T.astep("connect", lambda: asyncpg.connect(DSN))
    T.emit({"step": "server settings", "result": {k: conn.get_settings().__getattr__(k) for k in ("client_encoding", "DateStyle", "integer_datetimes", "standard_conforming_strings")}})

    async def setup():
        await conn.execute("""
            drop schema if exists apg_schema cascade;
            drop table if exists apg_items; drop table if exists apg_copy; drop table if exists apg_typed;
            drop type if exists apg_mood; drop type if exists apg_pair; drop domain if exists apg_posint;
            create type apg_mood as enum ('sad', 'ok', 'happy');
            create type apg_pair as (label text, n int);
            create domain apg_posint as int check (value > 0);
            create table apg_items (id int primary key, name text unique, qty int, price numeric(10,2), data bytea,
                                    ts timestamptz, d date, j json, jb jsonb, tags text[], nums int[], u uuid);
            create table apg_copy (id int, t text, n numeric);
            create table apg_typed (id int, mood apg_mood, pair apg_pair, moods apg_mood[], p apg_posint);
        """)
        return "ok"

    await T.astep("setup", setup)
    values = [
        (1, "alpha", 3, decimal.Decimal("12.50"), b"\x00\x01\xff", datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc),
         datetime.date(2024, 2, 29), json.dumps({"a": 1}), json.dumps({"k": [1, None]}), ["x", None, "y z"], [1, 2, 3], uuid.UUID("12345678-1234-5678-1234-567812345678")),
        (2, "beta", None, None, None, None, None, None, None, None, None, None),
        (3, "gamma 'q' \\", -7, decimal.Decimal("-0.01"), b"", datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
         datetime.date(1, 1, 1), "[]", "{}", [], [], uuid.UUID(int=0)),
    ]
    await T.astep("insert many types (binary parameters)", lambda: conn.executemany(
        "insert into apg_items values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", values))
    await T.astep("fetch many types (binary results)", lambda: conn.fetch("select * from apg_items order by id"))
    await T.astep("fetchrow with parameter", lambda: conn.fetchrow("select name, price from apg_items where id = $1", 1))
    await T.astep("fetchval", lambda: conn.fetchval("select count(*) from apg_items where qty > $1", 0))
    await T.astep("server types", lambda: conn.fetchrow(
        "select interval '1 day 2 hours' i, time '12:34:56' t, inet '10.0.0.1/8' a, 1.5::float8 f, true b, null::int n, array[[1,2],[3,4]] arr, int4range(1, 5) r, point(1, 2) pt, 'x'::char(3) c, 123456789012::int8 big, 'NaN'::numeric nan"))
    await T.astep("any() with an array parameter", lambda: conn.fetch("select id from apg_items where id = any($1::int[]) order by id", [1, 3]))
    await T.astep("parameter type inferred from context", lambda: conn.fetchval("select $1 || 'x'", "a"))
    await T.astep("wrong python type for a parameter", lambda: conn.fetchval("select $1::int", "not an int"))

    # Types asyncpg introspects: enum, composite, domain, arrays of them.
    await T.astep("insert enum, composite, domain", lambda: conn.execute(
        "insert into apg_typed values ($1, $2, $3, $4, $5)", 1, "happy", ("first", 7), ["sad", "ok"], 5))
    await T.astep("fetch enum, composite, domain", lambda: conn.fetch("select * from apg_typed"))
    await T.astep("domain check violation", lambda: conn.execute("insert into apg_typed (id, p) values ($1, $2)", 2, -1))
    await T.astep("invalid enum value", lambda: conn.execute("insert into apg_typed (id, mood) values ($1, $2)", 3, "angry"))

    async def codec():
        c = await asyncpg.connect(DSN)
        await c.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        await c.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        out = [await c.fetchval("select $1::jsonb", {"a": [1, 2, {"b": None}]}), await c.fetchval("select j from apg_items where id = 1")]
        await c.set_type_codec("numeric", encoder=str, decoder=lambda s: "num:" + s, schema="pg_catalog", format="text")
        out.append(await c.fetchval("select $1::numeric + 1", "41.5"))
        await c.close()
        return out

    await T.astep("set_type_codec json, jsonb and numeric (text)", codec)

    # Transactions.
    async def tx():
        async with conn.transaction():
            await conn.execute("update apg_items set qty = qty + 1 where id = 1")
            async with conn.transaction():  # a savepoint
                await conn.execute("update apg_items set qty = 100 where id = 3")
            try:
                async with conn.transaction():
                    await conn.execute("update apg_items set qty = 999 where id = 1")
                    raise RuntimeError("roll back to the savepoint")
            except RuntimeError:
                pass
        return await conn.fetch("select id, qty from apg_items order by id")

    await T.astep("transaction with savepoints", tx)

    async def tx_error():
        try:
            async with conn.transaction():
                await conn.execute("insert into apg_items (id, name) values (10, 'x')")
                await conn.execute("insert into apg_items (id, name) values (11, 'alpha')")
        except asyncpg.UniqueViolationError as e:
            return [e.sqlstate, e.constraint_name, e.table_name, await conn.fetchval("select count(*) from apg_items"), conn.is_in_transaction()]

    await T.astep("unique violation rolls the block back", tx_error)

    async def failed_block():
        tr = conn.transaction()
        await tr.start()
        out = []
        for q in ("select 1/0", "select 1"):
            try:
                await conn.execute(q)
            except asyncpg.PostgresError as e:
                out.append([e.sqlstate, str(e)])
        await tr.rollback()
        out.append(await conn.fetchval("select 'usable'"))
        return out

    await T.astep("statement in a failed block, then rollback", failed_block)

    async def isolation():
        async with conn.transaction(isolation="serializable", readonly=True):
            r = [await conn.fetchval("show transaction_isolation"), await conn.fetchval("show transaction_read_only")]
            try:
                await conn.execute("insert into apg_copy values (1)")
            except asyncpg.PostgresError as e:
                r.append(e.sqlstate)
            return r

    await T.astep("serializable read-only transaction", isolation)
    await T.astep("syntax error", lambda: conn.execute("selec 1"))
    await T.astep("undefined table", lambda: conn.fetch("select * from apg_missing"))
    await T.astep("undefined column with parameter", lambda: conn.fetch("select nope from apg_items where id = $1", 1))
    await T.astep("error raised in plpgsql", lambda: conn.execute("do $$ begin raise exception 'custom %', 42 using errcode = 'P0001'; end $$"))

    async def notices():
        got = []
        conn.add_log_listener(lambda c, m: got.append([type(m).__name__, m.sqlstate, str(m)]))
        await conn.execute("do $$ begin raise notice 'hello %', 1; raise warning 'careful'; end $$")
        await asyncio.sleep(0.05)
        return got

    await T.astep("notices", notices)

    # Prepared statements and the statement cache.
    async def prepared():
        stmt = await conn.prepare("select id, name, price from apg_items where id >= $1 order by id")
        out = [[(a.name, a.type.name) for a in stmt.get_attributes()], [p.name for p in stmt.get_parameters()]]
        out.append(await stmt.fetch(2))
        out.append(await stmt.fetchrow(1))
        out.append(await stmt.fetchval(3))
        async with conn.transaction():
            out.append([r async for r in stmt.cursor(1, prefetch=2)])
        return out

    await T.astep("prepare", prepared)

    async def cache_invalidation():
        c = await asyncpg.connect(DSN)
        out = [await c.fetchrow("select * from apg_copy where id = $1", 1)]
        await c.execute("insert into apg_copy values (1, 'a', 1)")
        out.append(await c.fetchrow("select * from apg_copy where id = $1", 1))
        await c.execute("alter table apg_copy add column extra int")
        # asyncpg re-prepares on "cached plan must not change result type" outside a transaction.
        out.append(await c.fetchrow("select * from apg_copy where id = $1", 1))
        await c.execute("alter table apg_copy drop column extra")
        out.append(await c.fetchrow("select * from apg_copy where id = $1", 1))
        await c.close()
        return out

    await T.astep("statement cache after the table changed", cache_invalidation)

    async def no_cache():
        c = await asyncpg.connect(DSN, statement_cache_size=0)
        out = [await c.fetchval("select $1::int + 1", i) for i in range(3)]
        await c.close()
        return out

    await T.astep("statement_cache_size=0", no_cache)

    # Cursors.
    async def cursors():
        async with conn.transaction():
            cur = await conn.cursor("select g, g * 2 from generate_series(1, 25) g")
            first = await cur.fetch(3)
            await cur.forward(5)
            nxt = await cur.fetchrow()
            it = [r async for r in conn.cursor("select g from generate_series(1, $1::int) g", 7, prefetch=3)]
            return [first, nxt, it]

    await T.astep("cursors", cursors)
    await T.astep("cursor outside a transaction", lambda: conn.cursor("select 1"))

    # executemany error in the middle.
    await T.astep("executemany with a failing row", lambda: conn.executemany("insert into apg_copy (id, n) values ($1, $2)", [(50, 1), (51, "x")]))
    await T.astep("executemany failure atomic", lambda: conn.fetchval("select count(*) from apg_copy where id >= 50"))

    # COPY.
    await T.astep("copy_records_to_table", lambda: conn.copy_records_to_table(
        "apg_copy", records=[(i, f"copied\t{i}\n", decimal.Decimal(i) / 3) for i in range(20, 30)], columns=["id", "t", "n"]))

    async def copy_to_table():
        import io

        data = io.BytesIO(b"60,csv one,1.5\n61,\"csv, two\",\n")
        return await conn.copy_to_table("apg_copy", source=data, columns=["id", "t", "n"], format="csv")

    await T.astep("copy_to_table (csv)", copy_to_table)

    async def copy_from_query():
        import io

        out = io.BytesIO()
        status = await conn.copy_from_query("select id, t, n from apg_copy where id >= $1 order by id", 20, output=out, format="csv")
        return [status, out.getvalue().decode()]

    await T.astep("copy_from_query (csv, with a parameter)", copy_from_query)

    async def copy_from_table():
        import io

        out = io.BytesIO()
        status = await conn.copy_from_table("apg_copy", output=out, columns=["id", "t"], format="binary")
        return [status, len(out.getvalue())]

    await T.astep("copy_from_table (binary)", copy_from_table)
    async def copy_bad():
        import io

        return await conn.copy_to_table("apg_copy", source=io.BytesIO(b"1,x,1\n2,y,not numeric\n"), columns=["id", "t", "n"], format="csv")

    await T.astep("copy_to_table with bad data", copy_bad)
    await T.astep("usable after copy error", lambda: conn.fetchval("select count(*) from apg_copy"))

    # LISTEN / NOTIFY.
    async def listen_notify():
        listener = await asyncpg.connect(DSN)
        got = []
        three = asyncio.Event()

        def on_notify(c, pid, channel, payload):
            got.append([channel, payload, pid])
            if len(got) == 3:
                three.set()

        await listener.add_listener("apg_channel", on_notify)
        sender = await asyncpg.connect(DSN)
        await sender.execute("notify apg_channel, 'hello'")
        await sender.execute("select pg_notify('apg_channel', $1)", "from a function")
        await listener.execute("notify apg_channel, 'self'")
        try:
            await asyncio.wait_for(three.wait(), 5)
        except asyncio.TimeoutError:
            pass
        own = await listener.fetchval("select pg_backend_pid()")
        await listener.remove_listener("apg_channel", on_notify)
        await sender.close()
        await listener.close()
        return [g[:2] for g in got] + [["own pid", [g[2] == own for g in got]]]

    await T.astep("listen/notify", listen_notify)

    # Cancel: a timeout makes asyncpg send a CancelRequest.
    async def cancel():
        c = await asyncpg.connect(DSN)
        out = []
        try:
            await c.fetchval("select pg_sleep(10)", timeout=0.5)
            out.append("not cancelled")
        except asyncio.TimeoutError:
            out.append("timed out")
        out.append(await c.fetchval("select 'usable'"))
        async with c.transaction():
            try:
                await c.execute("select pg_sleep(10)", timeout=0.5)
            except asyncio.TimeoutError:
                out.append("timed out in a transaction")
        out.append(await c.fetchval("select 'usable again'"))
        await c.close()
        return out

    await T.astep("cancel a long query (timeout)", cancel)

    async def cancel_streaming():
        # Cancelled while the server streams rows and while asyncpg streams COPY data in.
        c = await asyncpg.connect(DSN)
        out = []
        try:
            await c.fetch("select g, repeat('x', 200) from generate_series(1, 3000000) g", timeout=0.4)
            out.append("not cancelled")
        except asyncio.TimeoutError:
            out.append("timed out")
        out.append(await c.fetchval("select 'usable'"))

        async def records():
            for i in range(2000000):
                yield (i, "x" * 50)

        await c.execute("create temp table apg_sink (a int, b text)")
        # Whether the timeout fires before the COPY's last row is sent, and the cancel lands before
        # the server finished it, is a race (asyncpg's writer yields to the timeout only when the
        # socket pushes back), directly too: the copy either ran whole or not at all, never in
        # part, and the connection goes on.
        try:
            await c.copy_records_to_table("apg_sink", records=records(), timeout=0.4)
        except asyncio.TimeoutError:
            pass
        n = await c.fetchval("select count(*) from apg_sink")
        out.append("all or nothing" if n in (0, 2000000) else f"partly: {n}")
        await c.close()
        return out

    await T.astep("cancel a streaming result and a COPY in", cancel_streaming)

    async def command_timeout():
        c = await asyncpg.connect(DSN, command_timeout=0.5)
        try:
            await c.execute("select pg_sleep(10)")
            r = "not cancelled"
        except asyncio.TimeoutError:
            r = "timed out"
        out = [r, await c.fetchval("select 1")]
        await c.close()
        return out

    await T.astep("command_timeout", command_timeout)

    async def server_settings():
        c = await asyncpg.connect(DSN, server_settings={"application_name": "probe", "timezone": "America/New_York"})
        r = [await c.fetchval("select current_setting('application_name')"), await c.fetchval("select timestamptz '2024-06-01 12:00:00+00'::text"), c.get_settings().TimeZone]
        await c.close()
        return r

    await T.astep("server_settings at connect", server_settings)

    # Pool.
    async def pool():
        p = await asyncpg.create_pool(DSN, min_size=2, max_size=4)
        try:
            results = await asyncio.gather(*[p.fetchval("select $1::int * 10", i) for i in range(12)])
            async with p.acquire() as c:
                async with c.transaction():
                    await c.execute("insert into apg_copy (id, t) values (70, 'pool')")
                try:
                    await c.execute("select 1/0")
                except asyncpg.PostgresError as e:
                    results.append(e.sqlstate)
            results.append(await p.fetchval("select count(*) from apg_copy where id = 70"))
        finally:
            await asyncio.wait_for(p.close(), 10)
        return results

    await T.astep("create_pool", pool)

    async def big():
        r = await conn.fetch("select g, repeat('x', 100) from generate_series(1, 20000) g")
        return [len(r), r[-1][0]]

    await T.astep("large result", big)
    async def more_types():
        c = await asyncpg.connect(DSN, server_settings={"search_path": "apg_schema, public"})
        await c.execute("""
            create schema if not exists apg_schema;
            drop table if exists apg_schema.apg_more; drop type if exists apg_schema.apg_span; drop domain if exists apg_schema.apg_tags;
            create type apg_schema.apg_span as range (subtype = float8);
            create domain apg_schema.apg_tags as text[] check (cardinality(value) < 5);
            create table apg_more (id int, s apg_span, tags apg_tags, pairs apg_pair[], m apg_mood)""")
        out = [await c.fetchval("select current_schemas(false)")]
        await c.execute("insert into apg_more values ($1, $2, $3, $4, $5)", 1, asyncpg.Range(1.5, 2.5), ["a", "b"], [("x", 1), ("y", None)], "ok")
        out.append(await c.fetch("select * from apg_more"))
        out.append(await c.fetchval("select $1::apg_schema.apg_span", asyncpg.Range(0, 1, upper_inc=True)))
        try:
            await c.execute("insert into apg_more (id, tags) values ($1, $2)", 2, ["a", "b", "c", "d", "e"])
        except asyncpg.PostgresError as e:
            out.append([e.sqlstate, e.constraint_name])
        await c.close()
        return out

    await T.astep("range, domain over an array, array of composites, server_settings search_path", more_types)

    async def cache_in_transaction():
        c = await asyncpg.connect(DSN)
        out = [await c.fetchrow("select * from apg_copy where id = $1", 20)]
        await c.execute("alter table apg_copy add column extra2 int")
        try:
            async with c.transaction():
                out.append(await c.fetchrow("select * from apg_copy where id = $1", 20))
        except asyncpg.exceptions.InvalidCachedStatementError as e:
            out.append(["InvalidCachedStatementError", e.sqlstate])
        out.append(await c.fetchrow("select * from apg_copy where id = $1", 20))
        await c.execute("alter table apg_copy drop column extra2")
        await c.reload_schema_state()
        out.append(await c.fetchval("select 'after reload_schema_state'"))
        await c.close()
        return out

    await T.astep("statement cache after the table changed, inside a transaction", cache_in_transaction)

    async def executemany_failing_server_side():
        try:
            await conn.executemany("insert into apg_items (id, name) values ($1, $2)", [(100, "a1"), (101, "a2"), (102, "alpha"), (103, "a4")])
        except asyncpg.PostgresError as e:
            r = [e.sqlstate, e.constraint_name]
        return [r, await conn.fetchval("select count(*) from apg_items where id >= 100")]

    await T.astep("executemany with a unique violation in the middle", executemany_failing_server_side)

    async def large():
        blob = bytes(range(256)) * 20000  # 5 MB
        out = [await conn.fetchval("select md5($1::bytea)", blob), len(await conn.fetchval("select $1::bytea", blob))]
        out.append(await conn.copy_records_to_table("apg_copy", records=[(1000 + i, "x" * 40, i) for i in range(100000)], columns=["id", "t", "n"]))
        out.append(await conn.fetchval("select count(*) from apg_copy where id >= 1000"))
        await conn.execute("delete from apg_copy where id >= 1000")
        return out

    await T.astep("large parameters and a large COPY", large, timeout=30)

    async def reset():
        c = await asyncpg.connect(DSN)
        await c.execute("set work_mem = '7MB'; listen apg_other")
        await c.reset()
        out = [await c.fetchval("show work_mem"), await c.fetchval("select count(*) from pg_listening_channels()")]
        await c.close()
        return out

    await T.astep("Connection.reset", reset)

    async def idle_timeout():
        c = await asyncpg.connect(DSN)
        await c.execute("set idle_in_transaction_session_timeout = 300; begin")
        await asyncio.sleep(1)
        try:
            await c.fetchval("select 1")
            r = "still open"
        except Exception as e:  # noqa: BLE001
            r = [type(e).__name__, getattr(e, "sqlstate", None)]
        out = [r, c.is_closed()]
        c.terminate()
        return out

    await T.astep("idle_in_transaction_session_timeout ends the session", idle_timeout)

    await T.astep("close", lambda: conn.close())
    T.emit({"step": "closed", "result": conn.is_closed()})


async def mask():
    conn = await T.astep("connect", lambda: asyncpg.connect(DSN))
    await T.astep("fetch (binary)", lambda: conn.fetch("select id, name, ssn from customers order by id"))
    await T.astep("fetchrow with parameter", lambda: conn.fetchrow("select ssn, name from customers where id = $1", 2))

    async def prepared():
        stmt = await conn.prepare("select ssn from customers where id = $1")
        return [await stmt.fetchval(i) for i in (1, 2, 3)]

    await T.astep("prepared", prepared)

    async def cursor():
        async with conn.transaction():
            return [r async for r in conn.cursor("select id, ssn from customers order by id", prefetch=2)]

    await T.astep("cursor", cursor)

    async def copy_out():
        import io

        out = io.BytesIO()
        await conn.copy_from_query("select id, ssn from customers order by id", output=out)
        return out.getvalue().decode()

    await T.astep("copy_from_query", copy_out)
    await conn.close()


async def _fetch_prepared(conn, query):
    return await (await conn.prepare(query)).fetchval()


async def refusals():
    """Statements the gateway refuses, in every position asyncpg can send them: each is answered
    (no wait) and the connection goes on. Run through the gateway only."""
    conn = await T.astep("connect", lambda: asyncpg.connect(DSN))
    await T.astep("refused: fetch", lambda: conn.fetch(REFUSED))
    await T.astep("after: fetch", lambda: conn.fetchval("select 1"))
    await T.astep("refused: fetch with a parameter", lambda: conn.fetch(REFUSED + " where pid > $1", 0))
    await T.astep("after: fetch with a parameter", lambda: conn.fetchval("select $1::int", 2))
    await T.astep("refused: prepare", lambda: conn.prepare(REFUSED))
    await T.astep("after: prepare", lambda: _fetch_prepared(conn, "select 3"))
    await T.astep("refused: execute (simple query)", lambda: conn.execute(REFUSED))
    await T.astep("after: execute (simple query)", lambda: conn.execute("select 4"))

    async def in_transaction():
        async with conn.transaction():
            await conn.execute("insert into apg_copy (id) values (-1)")
            await conn.fetch(REFUSED)

    await T.astep("refused: in a transaction", in_transaction)
    await T.astep("after: in a transaction", lambda: conn.fetchval("select count(*) from apg_copy where id = -1"))

    async def cursor():
        async with conn.transaction():
            return [r async for r in conn.cursor(REFUSED)]

    await T.astep("refused: cursor", cursor)

    async def cursor_after():
        async with conn.transaction():
            return [r async for r in conn.cursor("select 5")]

    await T.astep("after: cursor", cursor_after)
    await T.astep("refused: executemany", lambda: conn.executemany("insert into apg_copy (id, t) select $1, state from pg_stat_activity limit 1", [(1,), (2,)]))
    await T.astep("after: executemany", lambda: conn.executemany("insert into apg_copy (id) values ($1)", [(-2,), (-3,)]))

    async def copy_out():
        import io

        return await conn.copy_from_query(REFUSED, output=io.BytesIO())

    await T.astep("refused: copy_from_query", copy_out)

    async def copy_after():
        import io

        out = io.BytesIO()
        await conn.copy_from_query("select 6", output=out)
        return out.getvalue().decode()

    await T.astep("after: copy_from_query", copy_after)
    await conn.execute("delete from apg_copy where id < 0")
    await conn.close()


asyncio.run({"compat": compat, "mask": mask, "refusals": refusals}[MODE]())
