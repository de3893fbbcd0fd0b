"""
What BI tools and ODBC applications do through psqlODBC (the PostgreSQL ODBC driver, libpq
underneath, driven here with pyodbc): its connect-time queries, parameters, many types, manual
commit and rollback, statement-level rollback after an error (psqlODBC's savepoints, its default)
and transaction-level rollback, server-side prepare on and off, executemany, and the catalog
functions (SQLTables, SQLColumns) that tools list a schema with. Usage: probe_pyodbc.py URL
[compat|mask|refusals], URL as postgres://user:password@host:port/database. Prints a transcript
(see transcript.py).
"""
import glob
import sys
import urllib.parse

import pyodbc

from transcript import REFUSED, Transcript

T = Transcript()
URL = urllib.parse.urlparse(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "compat"
DRIVER = (glob.glob("/usr/lib/*/odbc/psqlodbcw.so") + glob.glob("/usr/lib/odbc/psqlodbcw.so"))[0]


class OdbcError(Exception):
    """A driver error with the server's SQLSTATE and primary message, as transcript.error_of reads them."""

    def __init__(self, exc):
        super().__init__(str(exc))
        self.sqlstate = exc.args[0] if exc.args else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        # psqlODBC: "[SQLSTATE] ERROR: <message>;\nError while executing the query (n) (SQLExecDirectW)"
        primary = text.split("ERROR: ", 1)[1] if "ERROR: " in text else text
        self.message = primary.split(";\n", 1)[0].strip()


def connect(autocommit=False, **options):
    attrs = {
        "Driver": DRIVER,
        "Servername": URL.hostname,
        "Port": str(URL.port),
        "Database": URL.path.lstrip("/"),
        "Username": urllib.parse.unquote(URL.username or ""),
        "Password": urllib.parse.unquote(URL.password or ""),
        "SSLmode": "disable",
        **options,
    }
    try:
        return pyodbc.connect(";".join(f"{k}={{{v}}}" if ";" in v else f"{k}={v}" for k, v in attrs.items()), autocommit=autocommit, timeout=10)
    except pyodbc.Error as exc:
        raise OdbcError(exc) from None


def run(conn, query, *params, fetch="all"):
    try:
        cur = conn.cursor()
        cur.execute(query, *params)
        if fetch == "all":
            return [tuple(r) for r in cur.fetchall()]
        if fetch == "one":
            r = cur.fetchone()
            return tuple(r) if r is not None else None
        return cur.rowcount
    except pyodbc.Error as exc:
        raise OdbcError(exc) from None


def odbc(fn):
    try:
        return fn()
    except pyodbc.Error as exc:
        raise OdbcError(exc) from None


def compat():
    conn = T.step("connect", connect)
    T.step("types", lambda: run(conn, "select 1::int2, 2::int4, 3::int8, 1.5::numeric(5,2), 2.25::float8, true, 'text'::text, 'x'::varchar(3), "
                                      "date '2024-02-29', timestamp '2024-02-29 12:34:56.5', '\\x00ff'::bytea, "
                                      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{\"a\": 1}'::json, array[1,2,3]"))
    T.step("parameters", lambda: run(conn, "select ?::int + 1, ?::text || 'x', ?::numeric * 2", 41, "a", "1.25"))
    T.step("null parameter", lambda: run(conn, "select coalesce(?::text, 'was null')", None))
    T.step("a table", lambda: run(conn, "create table odbc_items (id int primary key, label text, price numeric(8,2))", fetch="count"))
    T.step("commit", lambda: odbc(conn.commit))

    def many():
        cur = conn.cursor()
        cur.fast_executemany = False
        cur.executemany("insert into odbc_items values (?, ?, ?)", [(i, f"item {i}", f"{i}.50") for i in range(1, 21)])
        conn.commit()
        return run(conn, "select count(*), sum(price) from odbc_items")

    T.step("executemany", lambda: odbc(many))
    T.step("rollback", lambda: (run(conn, "delete from odbc_items", fetch="count"), odbc(conn.rollback), run(conn, "select count(*) from odbc_items"))[2])
    T.step("an error", lambda: run(conn, "select 1/0"))
    T.step("statement-level rollback: the transaction goes on", lambda: run(conn, "select count(*) from odbc_items"))
    T.step("end it", lambda: odbc(conn.rollback))
    T.step("catalog: SQLTables", lambda: odbc(lambda: sorted((r.table_schem, r.table_name, r.table_type) for r in conn.cursor().tables(table="odbc_items"))))
    T.step("catalog: SQLColumns", lambda: odbc(lambda: [(r.column_name, r.type_name, r.nullable, r.ordinal_position) for r in conn.cursor().columns(table="odbc_items")]))
    T.step("catalog: SQLPrimaryKeys", lambda: odbc(lambda: [(r.column_name, r.key_seq) for r in conn.cursor().primaryKeys(table="odbc_items")]))
    conn.close()

    tx = connect(Protocol="7.4-0")
    T.step("transaction-level rollback: an error", lambda: run(tx, "select 1/0"))
    T.step("transaction-level rollback: the block is aborted", lambda: run(tx, "select 1"))
    T.step("transaction-level rollback: rollback", lambda: odbc(tx.rollback))
    T.step("transaction-level rollback: after", lambda: run(tx, "select 2"))
    tx.close()

    for prepare in ("0", "1"):
        c = connect(autocommit=True, UseServerSidePrepare=prepare)
        T.step(f"UseServerSidePrepare={prepare}: parameters", lambda: run(c, "select label from odbc_items where id = ? or id = ? order by id", 3, 4))
        T.step(f"UseServerSidePrepare={prepare}: again", lambda: run(c, "select label from odbc_items where id = ? or id = ? order by id", 5, 6))
        c.close()

    ac = connect(autocommit=True)
    T.step("drop", lambda: run(ac, "drop table odbc_items", fetch="count"))
    ac.close()
    T.step("closed", lambda: "closed")


def mask():
    conn = connect(autocommit=True)
    T.step("rows", lambda: run(conn, "select id, name, ssn from customers order by id"))
    T.step("by parameter", lambda: run(conn, "select ssn from customers where id = ?", 6))
    for prepare in ("0", "1"):
        c = connect(autocommit=True, UseServerSidePrepare=prepare)
        T.step(f"UseServerSidePrepare={prepare}", lambda: run(c, "select ssn, name from customers where id > ? order by id", 0))
        c.close()
    conn.close()


def refusals():
    conn = connect()
    T.step("refused: query", lambda: run(conn, REFUSED))
    T.step("after: query", lambda: run(conn, "select 1"))
    T.step("refused: with parameters", lambda: run(conn, REFUSED + " where pid > ?", 0))
    T.step("after: with parameters", lambda: run(conn, "select ?::int", 2))
    T.step("refused: in a transaction", lambda: (run(conn, "select 3"), run(conn, REFUSED))[1])
    T.step("after: in a transaction", lambda: (odbc(conn.rollback), run(conn, "select 4"))[1])
    c = connect(Protocol="7.4-0")
    T.step("refused: transaction-level rollback", lambda: run(c, REFUSED))
    T.step("after: transaction-level rollback", lambda: (odbc(c.rollback), run(c, "select 5"))[1])
    c.close()
    for prepare in ("0", "1"):
        p = connect(autocommit=True, UseServerSidePrepare=prepare)
        T.step(f"refused: UseServerSidePrepare={prepare}", lambda: run(p, REFUSED + " where pid <> ?", 0))
        T.step(f"after: UseServerSidePrepare={prepare}", lambda: run(p, "select ?::int", 6))
        p.close()
    conn.close()
    T.step("closed", lambda: "closed")


{"compat": compat, "mask": mask, "refusals": refusals}[MODE]()
