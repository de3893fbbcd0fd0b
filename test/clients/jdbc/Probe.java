import java.io.ByteArrayOutputStream;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.BatchUpdateException;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.PGobject;

/**
 * What JDBC applications and tools (DBeaver, Metabase, Spring/Hibernate) do over pgJDBC, printed
 * as a deterministic transcript: one line per step, `step -> result` or `step -> ERROR <SQLSTATE>
 * <message>`. The same run directly against PostgreSQL and through the gateway must print the
 * same lines (the e2e test compares them); nothing that differs between two runs of the same
 * server (pids, clock times, OIDs) is printed.
 *
 * Usage: java -Duser.timezone=UTC -cp postgresql.jar Probe.java full|keys|masked <jdbc-url> <user>
 * with the password in the environment variable PROBE_PASSWORD.
 */
public class Probe {
  interface Body {
    Object run() throws Exception;
  }

  static String url;
  static String user;
  static String password;
  static String sslmode = "disable";

  public static void main(String[] args) throws Exception {
    url = args[1];
    user = args[2];
    password = System.getenv("PROBE_PASSWORD");
    if (args[0].equals("masked")) masked();
    else if (args[0].equals("keys")) keys();
    else if (args[0].equals("tls")) tls();
    else full();
    System.out.println("done");
  }

  static Connection connect(String extra) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", user);
    p.setProperty("password", password);
    p.setProperty("sslmode", sslmode);
    // The gateway's certificate in the tests is self-signed: encryption without verification.
    if (!sslmode.equals("disable")) p.setProperty("sslfactory", "org.postgresql.ssl.NonValidatingFactory");
    p.setProperty("connectTimeout", "10");
    // A statement that never answers fails the run instead of hanging it (the test's own
    // deadline is the last resort).
    p.setProperty("socketTimeout", "20");
    String sep = url.contains("?") ? "&" : "?";
    return DriverManager.getConnection(extra.isEmpty() ? url : url + sep + extra, p);
  }

  static void step(String name, Body b) {
    String r;
    try {
      r = String.valueOf(b.run());
    } catch (SQLException e) {
      r = err(e);
    } catch (Exception e) {
      r = "EXCEPTION " + e.getClass().getName() + " " + oneLine(String.valueOf(e.getMessage()));
    }
    System.out.println(name + " -> " + r);
    System.out.flush();
  }

  static String err(SQLException e) {
    String s = "ERROR " + e.getSQLState() + " " + oneLine(String.valueOf(e.getMessage()));
    SQLException next = e.getNextException();
    if (next != null && next != e) s += " || next: " + next.getSQLState() + " " + oneLine(String.valueOf(next.getMessage()));
    return s;
  }

  static String oneLine(String s) {
    return s.replace("\r", "").replace("\n", " | ");
  }

  /** Every row of a result: columns joined by ',' and rows by ';'. */
  static String rows(ResultSet rs) throws SQLException {
    ResultSetMetaData md = rs.getMetaData();
    StringBuilder sb = new StringBuilder();
    int n = 0;
    while (rs.next()) {
      if (n++ > 0) sb.append(';');
      for (int i = 1; i <= md.getColumnCount(); i++) {
        if (i > 1) sb.append(',');
        sb.append(cell(rs, i));
      }
    }
    rs.close();
    return n + " rows: " + sb;
  }

  /** Selected columns of a metadata result, by label. */
  static String rows(ResultSet rs, String... labels) throws SQLException {
    StringBuilder sb = new StringBuilder();
    int n = 0;
    while (rs.next()) {
      if (n++ > 0) sb.append(';');
      for (int i = 0; i < labels.length; i++) {
        if (i > 0) sb.append(',');
        sb.append(rs.getString(labels[i]));
      }
    }
    rs.close();
    return n + " rows: " + sb;
  }

  static String cell(ResultSet rs, int i) throws SQLException {
    Object o = rs.getObject(i);
    if (o == null) return "null";
    if (o instanceof byte[]) return "bytes" + Arrays.toString((byte[]) o);
    if (o instanceof Array) {
      Object a = ((Array) o).getArray();
      return "array" + (a instanceof Object[] ? Arrays.deepToString((Object[]) a) : String.valueOf(a));
    }
    return o.getClass().getSimpleName() + ":" + o;
  }

  static String q(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement()) {
      return rows(s.executeQuery(sql));
    }
  }

  static int u(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement()) {
      return s.executeUpdate(sql);
    }
  }

  static void full() throws Exception {
    Connection c = connect("");
    step("connect", () -> "ok " + c.getMetaData().getDatabaseProductName());
    step("server version", () -> c.getMetaData().getDatabaseMajorVersion() + "." + c.getMetaData().getDatabaseMinorVersion());
    // Documented differences, compared apart by the test: the startup user name and the cancel key.
    step("documented: DatabaseMetaData.getUserName", () -> c.getMetaData().getUserName());
    step("documented: getBackendPID = pg_backend_pid()", () -> {
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select pg_backend_pid()")) {
        rs.next();
        return rs.getInt(1) == c.unwrap(PGConnection.class).getBackendPID();
      }
    });
    step("current_user", () -> q(c, "select current_user, current_database(), current_schema()"));
    step("settings", () -> q(c, "show DateStyle") + " | " + q(c, "show TimeZone") + " | " + q(c, "show extra_float_digits") + " | " + q(c, "show client_encoding") + " | " + q(c, "show application_name"));
    step("isValid", () -> c.isValid(5));
    step("getSchema", () -> c.getSchema());
    step("getTransactionIsolation", () -> c.getTransactionIsolation());
    setup(c);
    statements(c);
    for (String props : new String[] {"", "prepareThreshold=1", "prepareThreshold=-1", "binaryTransfer=false", "prepareThreshold=1&binaryTransfer=false", "preferQueryMode=simple", "preferQueryMode=extendedForPrepared", "preferQueryMode=extendedCacheEverything", "stringtype=unspecified", "preparedStatementCacheQueries=1"}) {
      Connection pc = connect(props);
      types(pc, props.isEmpty() ? "default" : props);
      pc.close();
    }
    batches(c, "");
    Connection rw = connect("reWriteBatchedInserts=true");
    batches(rw, "reWriteBatchedInserts ");
    rw.close();
    generatedKeys(c);
    transactions(c);
    Connection as = connect("autosave=always");
    autosave(as, "autosave=always");
    as.close();
    Connection ac = connect("autosave=conservative&prepareThreshold=1");
    autosave(ac, "autosave=conservative");
    ac.close();
    fetchSize(c, "");
    Connection fb = connect("prepareThreshold=-1");
    fetchSize(fb, "forceBinary ");
    fb.close();
    multipleResults(c);
    metadata(c);
    resultSetMetadata(c);
    callable(c);
    copy(c);
    notifications(c);
    cancel(c);
    planChange(c);
    refusals(c);
    Connection rb = connect("prepareThreshold=-1");
    refusalsPrepared(rb, "forceBinary");
    rb.close();
    Connection ra = connect("autosave=always");
    refusalsPrepared(ra, "autosave=always");
    ra.close();
    step("close", () -> {
      c.close();
      return c.isClosed();
    });
  }

  /** Over TLS: statements, a prepared statement past the switch, cancel and query timeout. */
  static void tls() throws Exception {
    sslmode = "require";
    Connection c = connect("");
    step("tls connect", () -> q(c, "select 'over tls'"));
    step("tls prepared loop", () -> {
      int sum = 0;
      try (PreparedStatement ps = c.prepareStatement("select ?::int * 2")) {
        for (int run = 0; run < 7; run++) {
          ps.setInt(1, run);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            sum += rs.getInt(1);
          }
        }
      }
      return sum;
    });
    cancel(c);
    c.close();
  }

  /** The foreign-key metadata calls alone (they read max_index_keys from pg_settings). */
  static void keys() throws Exception {
    Connection c = connect("");
    foreignKeys(c);
    c.close();
  }

  static void foreignKeys(Connection c) {
    step("md imported keys", () -> rows(c.getMetaData().getImportedKeys(null, "public", "jp_child"), "PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_NAME", "FKCOLUMN_NAME", "DELETE_RULE", "FK_NAME"));
    step("md exported keys", () -> rows(c.getMetaData().getExportedKeys(null, "public", "jp_items"), "FKTABLE_NAME", "FKCOLUMN_NAME"));
    step("md cross reference", () -> rows(c.getMetaData().getCrossReference(null, "public", "jp_items", null, "public", "jp_child"), "FK_NAME"));
  }

  static void setup(Connection c) {
    step("setup", () -> {
      u(c, "drop table if exists jp_child, jp_items, jp_types, jp_copy, jp_plan, jp_blob cascade");
      u(c, "drop function if exists jp_add(int, int)");
      u(c, "drop procedure if exists jp_proc(int, inout int)");
      u(c, "create table jp_items (id serial primary key, name text not null unique, qty int, price numeric(10,2))");
      u(c, "create index jp_items_qty on jp_items (qty)");
      u(c, "comment on table jp_items is 'probe items'");
      u(c, "comment on column jp_items.qty is 'how many'");
      u(c, "create table jp_child (id bigint generated always as identity primary key, item_id int references jp_items (id) on delete cascade, note varchar(40))");
      u(c, "create table jp_types (k int primary key, i int, l bigint, n numeric, t text, b bytea, ts timestamp, tstz timestamptz, d date, bo boolean, u uuid, ia int[], ta text[], j json, jb jsonb, f float8, r real, s smallint, c char(3), v varchar(10), tm time, iv interval)");
      u(c, "create table jp_copy (a int, b text)");
      u(c, "create table jp_plan (a int, b text)");
      u(c, "insert into jp_plan values (1, 'one')");
      u(c, "create function jp_add(a int, b int) returns int language sql as 'select a + b'");
      u(c, "comment on function jp_add(int, int) is 'adds'");
      u(c, "create procedure jp_proc(a int, inout b int) language plpgsql as 'begin b := a * b; end'");
      return "ok";
    });
  }

  static void statements(Connection c) {
    step("stmt select literals", () -> q(c, "select 1 as one, 'x'::text as t, null::int as n, 2.5::numeric as d, true as b"));
    step("stmt executeUpdate insert", () -> u(c, "insert into jp_items (name, qty, price) values ('a', 1, 1.50), ('b', 2, 2.25)"));
    step("stmt execute select", () -> {
      try (Statement s = c.createStatement()) {
        boolean r = s.execute("select name from jp_items order by id");
        return r + " " + rows(s.getResultSet()) + " count=" + s.getUpdateCount();
      }
    });
    step("stmt execute update", () -> {
      try (Statement s = c.createStatement()) {
        boolean r = s.execute("update jp_items set qty = qty + 1");
        return r + " count=" + s.getUpdateCount();
      }
    });
    step("stmt ddl count", () -> u(c, "create temp table jp_tmp (x int)"));
    step("stmt temp table", () -> u(c, "insert into jp_tmp values (1), (2)") + " " + q(c, "select sum(x) from jp_tmp"));
    step("stmt syntax error", () -> q(c, "selec 1"));
    step("stmt after syntax error", () -> q(c, "select 2"));
    step("stmt division by zero", () -> q(c, "select 1/0"));
    step("stmt undefined table", () -> q(c, "select * from jp_nope"));
    step("stmt undefined column", () -> q(c, "select nope from jp_items"));
    step("stmt empty query", () -> {
      try (Statement s = c.createStatement()) {
        return s.execute("") + " " + s.getUpdateCount();
      }
    });
    step("stmt notice", () -> {
      try (Statement s = c.createStatement()) {
        s.execute("do $$ begin raise notice 'hello %', 1; end $$");
        java.sql.SQLWarning w = s.getWarnings();
        return w == null ? "no warning" : w.getSQLState() + " " + oneLine(w.getMessage());
      }
    });
    step("stmt maxRows", () -> {
      try (Statement s = c.createStatement()) {
        s.setMaxRows(3);
        return rows(s.executeQuery("select g from generate_series(1, 10) g"));
      }
    });
    step("stmt escapes", () -> q(c, "select {fn ucase('abc')}, {fn abs(-3)}, {d '2024-02-29'}, {ts '2024-02-29 12:34:56'}"));
    step("stmt setSchema", () -> {
      c.setSchema("public");
      return c.getSchema();
    });
    step("stmt setClientInfo", () -> {
      c.setClientInfo("ApplicationName", "jdbc-probe");
      return q(c, "show application_name");
    });
    step("stmt information_schema", () -> q(c, "select table_name from information_schema.tables where table_schema = 'public' and table_name like 'jp%' order by 1"));
    step("stmt information_schema columns", () -> q(c, "select column_name, data_type, is_nullable from information_schema.columns where table_name = 'jp_items' order by ordinal_position"));
    step("stmt sequences", () -> q(c, "select sequence_name from information_schema.sequences where sequence_schema = 'public' and sequence_name like 'jp%' order by 1"));
    step("stmt version", () -> q(c, "select substring(version() from 1 for 10)"));
    step("stmt show isolation", () -> q(c, "show transaction isolation level"));
    step("stmt comments and quotes", () -> {
      try (PreparedStatement ps = c.prepareStatement("select /* ? ; */ ? as a -- ?;\n , $$x;?$$ as b, 'it''s ?' as c, E'tab\\t?' as d, \"jp_items\".\"name\" from jp_items where name = ? /* ; */")) {
        ps.setInt(1, 1);
        ps.setString(2, "a");
        return rows(ps.executeQuery());
      }
    });
    step("stmt unicode", () -> {
      u(c, "drop table if exists \"jp_ünï\"");
      u(c, "create table \"jp_ünï\" (\"kølumn\" text)");
      try (PreparedStatement ps = c.prepareStatement("insert into \"jp_ünï\" values (?)")) {
        ps.setString(1, "emoji \uD83D\uDE00 ß");
        ps.executeUpdate();
      }
      String r = q(c, "select \"kølumn\", length(\"kølumn\"), octet_length(\"kølumn\") from \"jp_ünï\"");
      u(c, "drop table \"jp_ünï\"");
      return r;
    });
    step("stmt many parameters", () -> {
      StringBuilder sql = new StringBuilder("select count(*) from generate_series(1, 5000) g where g in (");
      for (int i = 0; i < 3000; i++) sql.append(i > 0 ? ", ?" : "?");
      sql.append(")");
      try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
        StringBuilder sb = new StringBuilder();
        for (int run = 0; run < 6; run++) {
          for (int i = 0; i < 3000; i++) ps.setInt(i + 1, i * 2 + run);
          sb.append(rows(ps.executeQuery())).append(' ');
        }
        return sb;
      }
    });
    step("stmt array parameter", () -> {
      try (PreparedStatement ps = c.prepareStatement("select count(*) from generate_series(1, 5000) g where g = any(?)")) {
        Integer[] v = new Integer[4000];
        for (int i = 0; i < v.length; i++) v[i] = i * 3;
        ps.setArray(1, c.createArrayOf("int4", v));
        return rows(ps.executeQuery());
      }
    });
    step("stmt statement_timeout", () -> {
      u(c, "set statement_timeout = 300");
      String r;
      try {
        r = q(c, "select pg_sleep(3)");
      } catch (SQLException e) {
        r = err(e);
      }
      u(c, "reset statement_timeout");
      return r + " then " + q(c, "show statement_timeout");
    });
    step("stmt updatable result set", () -> {
      try (Statement s = c.createStatement(ResultSet.TYPE_SCROLL_INSENSITIVE, ResultSet.CONCUR_UPDATABLE)) {
        ResultSet rs = s.executeQuery("select id, name, qty from jp_items order by id");
        rs.absolute(1);
        rs.updateInt("qty", 77);
        rs.updateRow();
        rs.moveToInsertRow();
        rs.updateString("name", "upd-inserted");
        rs.updateInt("qty", 5);
        rs.insertRow();
        rs.last();
        String last = rs.getString("name");
        rs.close();
        ResultSet del = s.executeQuery("select id, name from jp_items where name = 'upd-inserted'");
        del.next();
        del.deleteRow();
        del.close();
        return last + " " + q(c, "select name, qty from jp_items order by id");
      }
    });
    // What migration tools and database browsers send besides DatabaseMetaData.
    step("tool advisory locks", () -> q(c, "select pg_try_advisory_lock(77431708279161), pg_advisory_unlock(77431708279161)") + " " + q(c, "select pg_try_advisory_xact_lock(42)"));
    step("tool search_path", () -> q(c, "show search_path") + " " + q(c, "select current_schemas(false)"));
    step("tool keywords", () -> q(c, "select count(*) > 400 from pg_catalog.pg_get_keywords()"));
    step("tool namespaces", () -> q(c, "select n.nspname, d.description from pg_catalog.pg_namespace n left join pg_catalog.pg_description d on d.objoid = n.oid and d.objsubid = 0 and d.classoid = 'pg_namespace'::regclass where n.nspname in ('public', 'pg_catalog') order by 1"));
    step("tool database", () -> q(c, "select db.datname, pg_catalog.pg_encoding_to_char(db.encoding), db.datallowconn from pg_catalog.pg_database db where datname = current_database()"));
    step("tool roles", () -> q(c, "select r.rolname, r.rolsuper, r.rolcanlogin from pg_catalog.pg_roles r where r.rolname = current_user"));
    step("tool relations", () -> q(c, "select c.relname, c.relkind, pg_catalog.obj_description(c.oid, 'pg_class') from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relname like 'jp%' order by 1"));
    step("tool table definition", () -> q(c, "select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) from pg_catalog.pg_attribute a left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum where a.attrelid = 'jp_items'::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum"));
    step("tool index definition", () -> q(c, "select pg_catalog.pg_get_indexdef(i.indexrelid) from pg_catalog.pg_index i where i.indrelid = 'jp_items'::regclass order by 1"));
    step("tool constraint definition", () -> q(c, "select conname, pg_catalog.pg_get_constraintdef(oid) from pg_catalog.pg_constraint where conrelid = 'jp_child'::regclass order by 1"));
    step("tool table size", () -> q(c, "select pg_catalog.pg_total_relation_size('jp_items'::regclass) > 0"));
  }

  static final Timestamp TS = Timestamp.valueOf("2024-02-29 12:34:56.789");
  static final OffsetDateTime TSTZ = OffsetDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000, ZoneOffset.ofHours(2));
  static final UUID UUID1 = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");

  static void types(Connection c, String label) {
    step(label + ": insert all types", () -> {
      try (Statement s = c.createStatement()) {
        s.executeUpdate("delete from jp_types");
      }
      try (PreparedStatement ps = c.prepareStatement("insert into jp_types values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::interval)")) {
        ps.setInt(1, 1);
        ps.setInt(2, -42);
        ps.setLong(3, 9_000_000_000L);
        ps.setBigDecimal(4, new BigDecimal("12345.678901234567890"));
        ps.setString(5, "héllo 'quoted' \"x\"");
        // pgJDBC cannot inline a byte[] in simple query mode (it leaves the `?`): a literal there.
        if (label.contains("simple")) ps.setString(6, "\\x000102ff275c");
        else ps.setBytes(6, new byte[] {0, 1, 2, (byte) 255, 39, 92});
        ps.setTimestamp(7, TS);
        ps.setObject(8, TSTZ);
        ps.setDate(9, Date.valueOf("2024-02-29"));
        ps.setBoolean(10, true);
        ps.setObject(11, UUID1);
        ps.setArray(12, c.createArrayOf("int4", new Integer[] {1, null, 3}));
        ps.setArray(13, c.createArrayOf("text", new String[] {"a", "b,c", null, "d\"e"}));
        PGobject j = new PGobject();
        j.setType("json");
        j.setValue("{\"k\": [1, 2, {\"z\": null}]}");
        ps.setObject(14, j);
        PGobject jb = new PGobject();
        jb.setType("jsonb");
        jb.setValue("{\"b\": 1, \"a\": \"x\"}");
        ps.setObject(15, jb);
        ps.setDouble(16, 3.141592653589793);
        ps.setFloat(17, 2.5f);
        ps.setShort(18, (short) 7);
        ps.setString(19, "ab");
        ps.setString(20, "varchar");
        ps.setTime(21, java.sql.Time.valueOf("13:14:15"));
        ps.setString(22, "1 day 02:03:04");
        int n = ps.executeUpdate();
        ps.setInt(1, 2);
        for (int i = 2; i <= 22; i++) ps.setNull(i, Types.NULL);
        ps.setNull(2, Types.INTEGER);
        ps.setNull(6, Types.BINARY);
        ps.setNull(11, Types.OTHER);
        n += ps.executeUpdate();
        return n;
      }
    });
    step(label + ": read all types", () -> q(c, "select * from jp_types order by k"));
    step(label + ": read as strings", () -> {
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select * from jp_types where k = 1")) {
        rs.next();
        StringBuilder sb = new StringBuilder();
        // (getString of a bytea read in binary is the byte[]'s identity: printed by getBytes.)
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) sb.append(i > 1 ? "|" : "").append(i == 6 ? Arrays.toString(rs.getBytes(i)) : rs.getString(i));
        sb.append(" ts=").append(rs.getTimestamp("ts")).append(" tstz=").append(rs.getObject("tstz", OffsetDateTime.class));
        sb.append(" d=").append(rs.getObject("d", java.time.LocalDate.class)).append(" u=").append(rs.getObject("u", UUID.class));
        return sb;
      }
    });
    // Executed more times than prepareThreshold, so the driver switches to a named server-side
    // statement (and to binary results where it may) part way.
    step(label + ": prepared loop", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select k, i, l, n, t, b, ts, tstz, d, bo, u, ia, ta, j::text, jb, f, r, s from jp_types where k = ? or ? is null order by k")) {
        String first = null;
        for (int run = 0; run < 8; run++) {
          ps.setInt(1, run % 2 + 1);
          ps.setNull(2, Types.INTEGER);
          String r = rows(ps.executeQuery());
          if (run < 2) sb.append(r).append(" / ");
          else if (!r.equals(run % 2 == 0 ? first : sb.toString().split(" / ")[1])) sb.append("run ").append(run).append(" differs: ").append(r).append(" / ");
          if (run == 0) first = r;
        }
        sb.append("server-prepared=").append(ps.unwrap(PGStatement.class).isUseServerPrepare());
      }
      return sb;
    });
    step(label + ": typed params loop", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select ?::int + 1, ?::bigint, ?::numeric * 2, upper(?), length(?::bytea), ?::timestamptz, ?::date + 1, not ?, ?::uuid, array_length(?::int[], 1), ?::jsonb -> 'a'")) {
        for (int run = 0; run < 7; run++) {
          ps.setInt(1, run);
          ps.setLong(2, 1L << 40);
          ps.setBigDecimal(3, new BigDecimal("0.1"));
          ps.setString(4, "abc" + run);
          if (label.contains("simple")) ps.setString(5, "\\x" + "00".repeat(run));
          else ps.setBytes(5, new byte[run]);
          ps.setObject(6, TSTZ);
          ps.setDate(7, Date.valueOf("2024-02-28"));
          ps.setBoolean(8, run % 2 == 0);
          ps.setObject(9, UUID1);
          ps.setArray(10, c.createArrayOf("int4", new Integer[run]));
          PGobject jb = new PGobject();
          jb.setType("jsonb");
          jb.setValue("{\"a\": " + run + "}");
          ps.setObject(11, jb);
          sb.append(rows(ps.executeQuery())).append(" / ");
        }
      }
      return sb;
    });
    step(label + ": setObject with target types", () -> {
      try (PreparedStatement ps = c.prepareStatement("select ?, ?, ?, ?")) {
        ps.setObject(1, "42", Types.INTEGER);
        ps.setObject(2, 7, Types.VARCHAR);
        ps.setObject(3, new BigDecimal("1.5"), Types.NUMERIC, 1);
        ps.setObject(4, java.time.LocalDateTime.of(2024, 1, 2, 3, 4, 5));
        return rows(ps.executeQuery());
      }
    });
    step(label + ": string into int column", () -> {
      try (PreparedStatement ps = c.prepareStatement("select k from jp_types where k = ?")) {
        ps.setString(1, "1");
        return rows(ps.executeQuery());
      }
    });
    step(label + ": prepared error then reuse", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select 10 / ?")) {
        for (int run = 0; run < 7; run++) {
          ps.setInt(1, run % 3);
          try {
            sb.append(rows(ps.executeQuery()));
          } catch (SQLException e) {
            sb.append(e.getSQLState());
          }
          sb.append(' ');
        }
      }
      return sb;
    });
    step(label + ": many statements", () -> {
      int total = 0;
      for (int k = 0; k < 12; k++) {
        try (PreparedStatement ps = c.prepareStatement("select " + k + " + ?")) {
          for (int run = 0; run < 6; run++) {
            ps.setInt(1, run);
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              total += rs.getInt(1);
            }
          }
        }
      }
      return total;
    });
  }

  static void batches(Connection c, String label) {
    step(label + "batch prepared inserts", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_copy (a, b) values (?, ?)")) {
        for (int i = 0; i < 10; i++) {
          ps.setInt(1, i);
          ps.setString(2, "b" + i);
          ps.addBatch();
        }
        return Arrays.toString(ps.executeBatch()) + " " + q(c, "select count(*), sum(a) from jp_copy");
      }
    });
    step(label + "batch large", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_copy (a, b) values (?, ?)")) {
        for (int i = 0; i < 3000; i++) {
          ps.setInt(1, i);
          ps.setString(2, "large batch row " + i + " with some padding to fill the socket buffers ...........");
          ps.addBatch();
        }
        int[] r = ps.executeBatch();
        return r.length + " " + r[0] + " " + q(c, "select count(*) from jp_copy");
      }
    });
    step(label + "batch large returning keys", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name, qty) values (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
        for (int i = 0; i < 1000; i++) {
          ps.setString(1, label + "k" + i);
          ps.setInt(2, i);
          ps.addBatch();
        }
        int[] r = ps.executeBatch();
        int keys = 0;
        try (ResultSet rs = ps.getGeneratedKeys()) {
          while (rs.next()) keys++;
        }
        return r.length + " keys=" + keys;
      }
    });
    // Statement texts over 16 KiB are parsed off the event loop by the gateway: large and small
    // ones pipelined in one batch must still be answered in order.
    step(label + "batch large and small statements", () -> {
      try (Statement s = c.createStatement()) {
        String big = "x".repeat(40_000);
        for (int i = 0; i < 12; i++) {
          if (i % 3 == 0) s.addBatch("insert into jp_copy values (" + (500 + i) + ", '" + big + i + "')");
          else s.addBatch("insert into jp_copy values (" + (500 + i) + ", 'small" + i + "')");
        }
        int[] r = s.executeBatch();
        return Arrays.toString(r) + " " + q(c, "select a, length(b) from jp_copy where a between 500 and 511 and (b like 'small%' or length(b) > 40000) order by a");
      }
    });
    step(label + "batch large prepared texts", () -> {
      StringBuilder sb = new StringBuilder();
      for (int k = 0; k < 3; k++) {
        try (PreparedStatement ps = c.prepareStatement("select ?::int + " + k + " as v, '" + "y".repeat(20_000 + k) + "' as pad")) {
          for (int run = 0; run < 6; run++) {
            ps.setInt(1, run);
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              sb.append(rs.getInt(1)).append(':').append(rs.getString(2).length()).append(' ');
            }
          }
        }
      }
      return sb;
    });
    step(label + "batch statement", () -> {
      try (Statement s = c.createStatement()) {
        s.addBatch("insert into jp_copy values (100, 'x')");
        s.addBatch("update jp_copy set b = 'y' where a = 100");
        s.addBatch("delete from jp_copy where a = 100");
        return Arrays.toString(s.executeBatch());
      }
    });
    step(label + "batch with a failure", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name, qty) values (?, ?)")) {
        for (String n : new String[] {label + "x1", label + "x2", "a", label + "x3"}) {
          ps.setString(1, n);
          ps.setInt(2, 1);
          ps.addBatch();
        }
        try {
          return Arrays.toString(ps.executeBatch());
        } catch (BatchUpdateException e) {
          return "BatchUpdateException " + e.getSQLState() + " counts=" + Arrays.toString(e.getUpdateCounts()) + " " + err(e) + " after: " + q(c, "select count(*) from jp_items where name like '" + label + "x%'");
        }
      }
    });
    step(label + "cleanup", () -> u(c, "delete from jp_copy") + " " + u(c, "delete from jp_items where name not in ('a', 'b')"));
  }

  static void generatedKeys(Connection c) {
    step("keys RETURN_GENERATED_KEYS", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name, qty) values (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
        ps.setString(1, "gk1");
        ps.setInt(2, 5);
        int n = ps.executeUpdate();
        ResultSet rs = ps.getGeneratedKeys();
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder cols = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) cols.append(md.getColumnName(i)).append(' ');
        return n + " cols=" + cols + rows(rs, "name", "qty");
      }
    });
    step("keys column names", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name, qty) values (?, ?)", new String[] {"name", "qty"})) {
        ps.setString(1, "gk2");
        ps.setInt(2, 6);
        ps.executeUpdate();
        return rows(ps.getGeneratedKeys());
      }
    });
    step("keys statement", () -> {
      try (Statement s = c.createStatement()) {
        s.executeUpdate("insert into jp_child (item_id, note) select id, 'n' from jp_items where name = 'gk1'", Statement.RETURN_GENERATED_KEYS);
        return rows(s.getGeneratedKeys(), "item_id", "note");
      }
    });
    step("explicit RETURNING", () -> q(c, "update jp_items set qty = qty * 10 where name like 'gk%' returning name, qty"));
    step("RETURNING via executeQuery prepared", () -> {
      try (PreparedStatement ps = c.prepareStatement("delete from jp_items where name = ? returning name")) {
        ps.setString(1, "gk2");
        return rows(ps.executeQuery());
      }
    });
  }

  static void transactions(Connection c) {
    step("tx rollback", () -> {
      c.setAutoCommit(false);
      u(c, "insert into jp_items (name) values ('tx1')");
      c.rollback();
      return q(c, "select count(*) from jp_items where name = 'tx1'");
    });
    step("tx commit", () -> {
      u(c, "insert into jp_items (name) values ('tx2')");
      c.commit();
      return q(c, "select count(*) from jp_items where name = 'tx2'");
    });
    step("tx savepoint after unique violation", () -> {
      StringBuilder sb = new StringBuilder();
      u(c, "insert into jp_items (name) values ('tx3')");
      Savepoint sp = c.setSavepoint("before_dup");
      try {
        u(c, "insert into jp_items (name) values ('tx2')");
      } catch (SQLException e) {
        sb.append(err(e)).append(" / ");
      }
      try {
        q(c, "select 1");
      } catch (SQLException e) {
        sb.append("in failed tx: ").append(err(e)).append(" / ");
      }
      c.rollback(sp);
      u(c, "insert into jp_items (name) values ('tx4')");
      c.commit();
      return sb + q(c, "select name from jp_items where name like 'tx%' order by name");
    });
    step("tx unnamed savepoint and release", () -> {
      Savepoint sp = c.setSavepoint();
      u(c, "insert into jp_items (name) values ('tx5')");
      c.releaseSavepoint(sp);
      Savepoint sp2 = c.setSavepoint();
      u(c, "insert into jp_items (name) values ('tx6')");
      c.rollback(sp2);
      c.commit();
      return q(c, "select name from jp_items where name in ('tx5', 'tx6')");
    });
    step("tx error without savepoint", () -> {
      StringBuilder sb = new StringBuilder();
      try {
        u(c, "insert into jp_items (name) values ('tx2')");
      } catch (SQLException e) {
        sb.append(e.getSQLState()).append(' ');
      }
      try {
        q(c, "select 1");
      } catch (SQLException e) {
        sb.append(e.getSQLState()).append(' ');
      }
      try {
        c.commit();
        sb.append("commit ok ");
      } catch (SQLException e) {
        sb.append("commit: ").append(err(e)).append(' ');
      }
      return sb + q(c, "select 1");
    });
    step("tx serializable", () -> {
      c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
      String r = q(c, "show transaction isolation level");
      c.commit();
      c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
      return r;
    });
    step("tx read only", () -> {
      c.setReadOnly(true);
      String r = q(c, "show transaction_read_only");
      try {
        u(c, "insert into jp_items (name) values ('ro')");
      } catch (SQLException e) {
        r += " " + err(e);
      }
      c.rollback();
      c.setReadOnly(false);
      return r;
    });
    step("tx prepared in transaction", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name, qty) values (?, ?)")) {
        for (int i = 0; i < 7; i++) {
          ps.setString(1, "txp" + i);
          ps.setInt(2, i);
          ps.executeUpdate();
        }
      }
      c.rollback();
      return q(c, "select count(*) from jp_items where name like 'txp%'");
    });
    step("tx back to autocommit", () -> {
      c.setAutoCommit(true);
      return c.getAutoCommit() + " " + q(c, "select count(*) from jp_items");
    });
  }

  static void autosave(Connection c, String label) {
    step(label + ": error in tx, then go on", () -> {
      c.setAutoCommit(false);
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("insert into jp_items (name) values (?)")) {
        for (String n : new String[] {"as1", "a", "as2"}) {
          ps.setString(1, n);
          try {
            sb.append(ps.executeUpdate()).append(' ');
          } catch (SQLException e) {
            sb.append(e.getSQLState()).append(' ');
          }
        }
      }
      try {
        c.commit();
      } catch (SQLException e) {
        sb.append("commit: ").append(err(e));
      }
      c.setAutoCommit(true);
      sb.append(q(c, "select name from jp_items where name like 'as%' order by 1"));
      u(c, "delete from jp_items where name like 'as%'");
      return sb;
    });
  }

  static void fetchSize(Connection c, String label) {
    step(label + "fetch size statement", () -> {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.setFetchSize(10);
        ResultSet rs = s.executeQuery("select g, repeat('x', g % 7) from generate_series(1, 35) g");
        long sum = 0;
        int n = 0;
        while (rs.next()) {
          sum += rs.getInt(1);
          n++;
        }
        rs.close();
        c.commit();
        return n + " " + sum;
      }
    });
    step(label + "fetch size prepared", () -> {
      try (PreparedStatement ps = c.prepareStatement("select g from generate_series(1, ?) g")) {
        ps.setFetchSize(7);
        StringBuilder sb = new StringBuilder();
        for (int run = 0; run < 6; run++) {
          ps.setInt(1, 20 + run);
          ResultSet rs = ps.executeQuery();
          int n = 0;
          while (rs.next()) n++;
          rs.close();
          sb.append(n).append(' ');
        }
        c.commit();
        return sb;
      }
    });
    step(label + "fetch size interleaved", () -> {
      try (Statement s1 = c.createStatement(); Statement s2 = c.createStatement()) {
        s1.setFetchSize(3);
        s2.setFetchSize(4);
        ResultSet a = s1.executeQuery("select g from generate_series(1, 10) g");
        ResultSet b = s2.executeQuery("select g * 100 from generate_series(1, 10) g");
        StringBuilder sb = new StringBuilder();
        while (a.next() && b.next()) sb.append(a.getInt(1) + b.getInt(1)).append(' ');
        a.close();
        b.close();
        c.commit();
        return sb;
      }
    });
    step(label + "fetch size abandoned", () -> {
      try (Statement s = c.createStatement()) {
        s.setFetchSize(5);
        ResultSet rs = s.executeQuery("select g from generate_series(1, 100) g");
        rs.next();
        rs.next();
        int v = rs.getInt(1);
        rs.close();
        String r = v + " " + q(c, "select 'next'");
        c.commit();
        return r;
      }
    });
    step(label + "fetch size with error mid-way", () -> {
      try (Statement s = c.createStatement()) {
        s.setFetchSize(5);
        ResultSet rs = s.executeQuery("select 10 / (12 - g) from generate_series(1, 20) g");
        int n = 0;
        try {
          while (rs.next()) n++;
        } catch (SQLException e) {
          c.rollback();
          return n + " " + err(e) + " after: " + q(c, "select 1");
        }
        return n + " no error";
      }
    });
    step(label + "fetch size back to autocommit", () -> {
      c.rollback();
      c.setAutoCommit(true);
      return q(c, "select 1");
    });
  }

  static void multipleResults(Connection c) {
    step("multiple results", () -> {
      try (Statement s = c.createStatement()) {
        StringBuilder sb = new StringBuilder();
        boolean isRs = s.execute("select 1; select 2, 3; update jp_items set qty = qty where name = 'a'; select 'x' as y; create temp table if not exists jp_tmp2 (x int)");
        while (true) {
          if (isRs) sb.append("rs ").append(rows(s.getResultSet())).append(" / ");
          else {
            int n = s.getUpdateCount();
            if (n == -1) break;
            sb.append("count ").append(n).append(" / ");
          }
          isRs = s.getMoreResults();
        }
        return sb;
      }
    });
    step("multiple results with error", () -> {
      try (Statement s = c.createStatement()) {
        s.execute("select 1; select 1/0; select 3");
        return rows(s.getResultSet());
      }
    });
    step("after multiple results", () -> q(c, "select 4"));
  }

  static void metadata(Connection c) {
    step("md product", () -> {
      DatabaseMetaData md = c.getMetaData();
      return md.getDatabaseProductName() + " " + md.getDriverName() + " " + md.getDriverVersion() + " " + md.getJDBCMajorVersion() + " quote=" + md.getIdentifierQuoteString();
    });
    step("md keywords", () -> c.getMetaData().getSQLKeywords().length() > 100);
    step("md functions lists", () -> {
      DatabaseMetaData md = c.getMetaData();
      return md.getNumericFunctions().length() + " " + md.getStringFunctions().length() + " " + md.getSystemFunctions().length() + " " + md.getTimeDateFunctions().length();
    });
    step("md supports", () -> {
      DatabaseMetaData md = c.getMetaData();
      return md.supportsTransactions() + " " + md.supportsBatchUpdates() + " " + md.supportsSavepoints() + " " + md.supportsGetGeneratedKeys() + " " + md.getMaxColumnNameLength() + " " + md.getDefaultTransactionIsolation();
    });
    step("md catalogs", () -> rows(c.getMetaData().getCatalogs(), "TABLE_CAT"));
    step("md schemas", () -> rows(c.getMetaData().getSchemas(null, "p%"), "TABLE_SCHEM"));
    step("md table types", () -> rows(c.getMetaData().getTableTypes(), "TABLE_TYPE"));
    step("md tables", () -> rows(c.getMetaData().getTables(null, "public", "jp_%", new String[] {"TABLE"}), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS"));
    step("md tables all types", () -> rows(c.getMetaData().getTables(null, "public", "jp_%", null), "TABLE_NAME", "TABLE_TYPE"));
    step("md tables system", () -> {
      ResultSet rs = c.getMetaData().getTables(null, "pg_catalog", "pg_clas%", null);
      return rows(rs, "TABLE_NAME", "TABLE_TYPE");
    });
    step("md columns", () -> rows(c.getMetaData().getColumns(null, "public", "jp_types", null), "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE", "COLUMN_DEF", "IS_AUTOINCREMENT", "IS_GENERATEDCOLUMN"));
    step("md columns items", () -> rows(c.getMetaData().getColumns(null, "public", "jp_items", "%"), "COLUMN_NAME", "TYPE_NAME", "REMARKS", "COLUMN_DEF", "IS_AUTOINCREMENT"));
    step("md columns identity", () -> rows(c.getMetaData().getColumns(null, "public", "jp_child", "%"), "COLUMN_NAME", "TYPE_NAME", "IS_AUTOINCREMENT"));
    step("md primary keys", () -> rows(c.getMetaData().getPrimaryKeys(null, "public", "jp_items"), "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
    step("md index info", () -> rows(c.getMetaData().getIndexInfo(null, "public", "jp_items", false, false), "INDEX_NAME", "NON_UNIQUE", "COLUMN_NAME", "ORDINAL_POSITION", "ASC_OR_DESC"));
    step("md index info unique", () -> rows(c.getMetaData().getIndexInfo(null, "public", "jp_items", true, true), "INDEX_NAME", "COLUMN_NAME"));
    foreignKeys(c);
    step("md best row identifier", () -> rows(c.getMetaData().getBestRowIdentifier(null, "public", "jp_items", DatabaseMetaData.bestRowSession, true), "COLUMN_NAME", "TYPE_NAME"));
    step("md version columns", () -> rows(c.getMetaData().getVersionColumns(null, "public", "jp_items"), "COLUMN_NAME"));
    step("md type info", () -> {
      ResultSet rs = c.getMetaData().getTypeInfo();
      List<String> names = new ArrayList<>();
      while (rs.next()) names.add(rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE"));
      rs.close();
      return names.size() + " " + names.subList(0, Math.min(12, names.size())) + " int4=" + names.contains("int4:4");
    });
    step("md procedures", () -> rows(c.getMetaData().getProcedures(null, "public", "jp_%"), "PROCEDURE_NAME", "REMARKS", "PROCEDURE_TYPE"));
    step("md procedure columns", () -> rows(c.getMetaData().getProcedureColumns(null, "public", "jp_%", null), "PROCEDURE_NAME", "COLUMN_NAME", "COLUMN_TYPE", "TYPE_NAME"));
    step("md functions", () -> rows(c.getMetaData().getFunctions(null, "public", "jp_%"), "FUNCTION_NAME", "REMARKS", "FUNCTION_TYPE"));
    step("md function columns", () -> rows(c.getMetaData().getFunctionColumns(null, "public", "jp_add", null), "COLUMN_NAME", "COLUMN_TYPE", "TYPE_NAME"));
    step("md table privileges", () -> rows(c.getMetaData().getTablePrivileges(null, "public", "jp_items"), "GRANTEE", "PRIVILEGE"));
    step("md column privileges", () -> rows(c.getMetaData().getColumnPrivileges(null, "public", "jp_items", "qty"), "GRANTEE", "PRIVILEGE"));
    step("md UDTs", () -> rows(c.getMetaData().getUDTs(null, "public", "%", null), "TYPE_NAME"));
    step("md client info properties", () -> rows(c.getMetaData().getClientInfoProperties(), "NAME"));
    step("md super tables", () -> rows(c.getMetaData().getSuperTables(null, "public", "%"), "TABLE_NAME"));
    step("md pseudo columns", () -> rows(c.getMetaData().getPseudoColumns(null, "public", "%", "%"), "COLUMN_NAME"));
  }

  static void resultSetMetadata(Connection c) {
    step("rsmd", () -> {
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select i.id, i.name, i.price, t.n, t.tstz, t.ia, t.u, i.qty + 1 as expr from jp_items i, jp_types t limit 0")) {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) {
          sb.append(md.getColumnName(i)).append(':').append(md.getColumnLabel(i)).append(':').append(md.getColumnType(i)).append(':').append(md.getColumnTypeName(i)).append(':').append(md.getPrecision(i)).append(':').append(md.getScale(i)).append(':').append(md.isNullable(i)).append(':').append(md.isAutoIncrement(i)).append(':').append(md.getTableName(i)).append(':').append(md.getSchemaName(i)).append(':').append(md.getColumnClassName(i)).append(':').append(md.getColumnDisplaySize(i)).append(':').append(md.isSigned(i)).append(':').append(md.isCaseSensitive(i)).append("; ");
        }
        return sb;
      }
    });
    step("rsmd prepared", () -> {
      try (PreparedStatement ps = c.prepareStatement("select name, qty from jp_items where id = ?")) {
        ResultSetMetaData md = ps.getMetaData();
        return md.getColumnCount() + " " + md.getColumnName(1) + " " + md.getColumnTypeName(2) + " params=" + ps.getParameterMetaData().getParameterCount() + " " + ps.getParameterMetaData().getParameterTypeName(1);
      }
    });
  }

  static void callable(Connection c) {
    step("callable function", () -> {
      try (CallableStatement cs = c.prepareCall("{? = call jp_add(?, ?)}")) {
        cs.registerOutParameter(1, Types.INTEGER);
        cs.setInt(2, 2);
        cs.setInt(3, 3);
        cs.execute();
        return cs.getInt(1);
      }
    });
    step("callable select function", () -> {
      try (PreparedStatement ps = c.prepareStatement("select jp_add(?, ?)")) {
        ps.setInt(1, 4);
        ps.setInt(2, 5);
        return rows(ps.executeQuery());
      }
    });
    step("callable procedure", () -> {
      try (CallableStatement cs = c.prepareCall("call jp_proc(?, ?)")) {
        cs.setInt(1, 6);
        cs.setInt(2, 7);
        cs.registerOutParameter(2, Types.INTEGER);
        cs.execute();
        return cs.getInt(2);
      }
    });
  }

  static void copy(Connection c) {
    CopyManager cm;
    try {
      cm = c.unwrap(PGConnection.class).getCopyAPI();
    } catch (SQLException e) {
      step("copy api", () -> {
        throw e;
      });
      return;
    }
    step("copy in csv", () -> cm.copyIn("COPY jp_copy (a, b) FROM STDIN WITH (FORMAT csv)", new StringReader("1,one\n2,\"two, quoted\"\n3,\n")));
    step("copy in text large", () -> {
      StringBuilder sb = new StringBuilder();
      for (int i = 10; i < 5010; i++) sb.append(i).append('\t').append("row ").append(i).append('\n');
      return cm.copyIn("COPY jp_copy FROM STDIN", new StringReader(sb.toString()));
    });
    step("copy out", () -> {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      long n = cm.copyOut("COPY (select a, b from jp_copy where a < 10 order by a) TO STDOUT WITH (FORMAT csv, HEADER)", out);
      return n + " " + oneLine(out.toString(StandardCharsets.UTF_8));
    });
    step("copy out large", () -> {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      long n = cm.copyOut("COPY jp_copy TO STDOUT", out);
      return n + " bytes=" + out.size();
    });
    step("copy out binary", () -> {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      long n = cm.copyOut("COPY (select a from jp_copy where a < 3 order by a) TO STDOUT WITH (FORMAT binary)", out);
      return n + " bytes=" + out.size();
    });
    step("copy in bad data", () -> cm.copyIn("COPY jp_copy (a, b) FROM STDIN", new StringReader("1\tok\nnot-a-number\tbad\n")));
    step("after copy error", () -> q(c, "select count(*) from jp_copy"));
    step("copy in within transaction", () -> {
      c.setAutoCommit(false);
      long n = cm.copyIn("COPY jp_copy (a, b) FROM STDIN", new StringReader("7000\tt\n"));
      c.rollback();
      c.setAutoCommit(true);
      return n + " " + q(c, "select count(*) from jp_copy where a = 7000");
    });
    step("copy api copyIn cancelled", () -> {
      org.postgresql.copy.CopyIn in = cm.copyIn("COPY jp_copy (a, b) FROM STDIN");
      byte[] row = "8000\tx\n".getBytes(StandardCharsets.UTF_8);
      in.writeToCopy(row, 0, row.length);
      in.cancelCopy();
      return q(c, "select count(*) from jp_copy where a = 8000");
    });
  }

  static void notifications(Connection c) {
    step("listen/notify", () -> {
      Connection other = connect("");
      try {
        u(c, "listen jp_chan");
        u(c, "listen \"JP Mixed\"");
        u(other, "notify jp_chan, 'hello'");
        u(other, "notify \"JP Mixed\"");
        try (PreparedStatement ps = other.prepareStatement("select pg_notify(?, ?)")) {
          ps.setString(1, "jp_chan");
          ps.setString(2, "from pg_notify");
          ps.executeQuery().close();
        }
        PGConnection pc = c.unwrap(PGConnection.class);
        List<String> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 10_000;
        while (got.size() < 3 && System.currentTimeMillis() < deadline) {
          PGNotification[] ns = pc.getNotifications(1000);
          if (ns != null) for (PGNotification n : ns) got.add(n.getName() + ":" + n.getParameter());
        }
        return got;
      } finally {
        other.close();
      }
    });
    step("notify in transaction delivered at commit", () -> {
      c.setAutoCommit(false);
      u(c, "notify jp_chan, 'self'");
      PGNotification[] before = c.unwrap(PGConnection.class).getNotifications(200);
      c.commit();
      c.setAutoCommit(true);
      PGNotification[] after = c.unwrap(PGConnection.class).getNotifications(5000);
      return (before == null ? 0 : before.length) + " " + (after == null ? 0 : after.length) + (after != null && after.length > 0 ? " " + after[0].getParameter() : "");
    });
    step("unlisten", () -> u(c, "unlisten *") + " " + q(c, "select count(*) from pg_listening_channels()"));
  }

  static String cancelled(Statement s, String sql, long afterMs) throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    AtomicReference<Exception> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        started.await();
        Thread.sleep(afterMs);
        s.cancel();
      } catch (Exception e) {
        failed.set(e);
      }
    });
    t.start();
    long t0 = System.nanoTime();
    started.countDown();
    String r;
    try {
      s.execute(sql);
      r = "not cancelled";
    } catch (SQLException e) {
      r = err(e);
    }
    t.join();
    long ms = (System.nanoTime() - t0) / 1_000_000;
    return r + (ms < 8000 ? " (quick)" : " (took " + ms + " ms)") + (failed.get() != null ? " cancel failed: " + failed.get() : "");
  }

  static void cancel(Connection c) {
    step("cancel pg_sleep", () -> {
      try (Statement s = c.createStatement()) {
        return cancelled(s, "select pg_sleep(15)", 1500) + " then " + q(c, "select 'usable'");
      }
    });
    step("cancel prepared in transaction", () -> {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("select pg_sleep(?)")) {
        ps.setInt(1, 15);
        CountDownLatch go = new CountDownLatch(1);
        Thread t = new Thread(() -> {
          try {
            go.await();
            Thread.sleep(1500);
            ps.cancel();
          } catch (Exception e) {
            // reported by the missing cancel below
          }
        });
        t.start();
        go.countDown();
        String r;
        try {
          ps.executeQuery();
          r = "not cancelled";
        } catch (SQLException e) {
          r = err(e);
        }
        t.join();
        try {
          q(c, "select 1");
        } catch (SQLException e) {
          r += " then " + e.getSQLState();
        }
        c.rollback();
        c.setAutoCommit(true);
        return r + " then " + q(c, "select 'usable'");
      }
    });
    step("query timeout", () -> {
      try (Statement s = c.createStatement()) {
        s.setQueryTimeout(1);
        long t0 = System.nanoTime();
        String r;
        try {
          s.execute("select pg_sleep(15)");
          r = "not cancelled";
        } catch (SQLException e) {
          r = err(e);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        return r + (ms < 8000 ? " (quick)" : " (took " + ms + " ms)") + " then " + q(c, "select 'usable'");
      }
    });
    step("query timeout not reached", () -> {
      try (Statement s = c.createStatement()) {
        s.setQueryTimeout(5);
        return rows(s.executeQuery("select 'fast'")) + " then " + q(c, "select 'usable'");
      }
    });
    step("cancel idle statement", () -> {
      try (Statement s = c.createStatement()) {
        s.cancel();
        Thread.sleep(300);
        return q(c, "select 'usable'");
      }
    });
  }

  static void planChange(Connection c) {
    step("plan change after ddl", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select * from jp_plan")) {
        for (int run = 0; run < 6; run++) ps.executeQuery().close();
        u(c, "alter table jp_plan add column c int default 3");
        for (int run = 0; run < 2; run++) {
          try {
            sb.append(rows(ps.executeQuery())).append(" / ");
          } catch (SQLException e) {
            sb.append(err(e)).append(" / ");
          }
        }
      }
      return sb;
    });
    step("deallocate all then reuse", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select a from jp_plan where a = ?")) {
        for (int run = 0; run < 6; run++) {
          ps.setInt(1, 1);
          ps.executeQuery().close();
        }
        u(c, "deallocate all");
        for (int run = 0; run < 2; run++) {
          try {
            ps.setInt(1, 1);
            sb.append(rows(ps.executeQuery())).append(" / ");
          } catch (SQLException e) {
            sb.append(err(e)).append(" / ");
          }
        }
      }
      return sb;
    });
    step("final", () -> q(c, "select 'still usable'"));
  }

  /**
   * A statement a policy refuses, in every shape a JDBC application sends one: the lines named
   * `refusal:` differ by design (the gateway answers 42501 where PostgreSQL runs the statement;
   * the test checks that), the `after` lines must not (the connection goes on as after any
   * error, and nothing hangs). The refused statement reads a server path from pg_settings, which
   * only an allow entry naming pg_settings exactly lifts (a read pinned to a setting
   * current_setting may read, as the foreign-key metadata's, is allowed; one writing it into a
   * table, or naming it by a parameter, is not proven so).
   */
  static final String REFUSED = "select setting from pg_catalog.pg_settings where name = 'data_directory'";

  static void refusals(Connection c) {
    step("refusal: statement", () -> q(c, REFUSED));
    step("after refused statement", () -> q(c, "select 'usable'"));
    step("refusal: in a query string", () -> {
      try (Statement s = c.createStatement()) {
        s.execute("select 1; " + REFUSED + "; select 3");
        StringBuilder sb = new StringBuilder();
        do {
          sb.append(rows(s.getResultSet())).append(" / ");
        } while (s.getMoreResults());
        return sb;
      }
    });
    step("after refused query string", () -> q(c, "select 'usable'"));
    step("refusal: statement batch", () -> {
      try (Statement s = c.createStatement()) {
        s.addBatch("insert into jp_copy values (9001, 'r')");
        s.addBatch("insert into jp_copy select setting::int, 'r' from pg_catalog.pg_settings where name = 'max_index_keys'");
        s.addBatch("insert into jp_copy values (9002, 'r')");
        try {
          return Arrays.toString(s.executeBatch()) + " " + q(c, "select count(*) from jp_copy where b = 'r'");
        } catch (BatchUpdateException e) {
          return "BatchUpdateException " + e.getSQLState() + " " + Arrays.toString(e.getUpdateCounts()) + " " + q(c, "select count(*) from jp_copy where b = 'r'");
        }
      }
    });
    step("after refused batch", () -> q(c, "select 'usable'"));
    step("refusal: in a transaction", () -> {
      c.setAutoCommit(false);
      StringBuilder sb = new StringBuilder();
      u(c, "insert into jp_copy values (9003, 't')");
      try {
        sb.append(q(c, REFUSED));
      } catch (SQLException e) {
        sb.append(e.getSQLState());
      }
      try {
        sb.append(' ').append(q(c, "select 'next'"));
      } catch (SQLException e) {
        sb.append(' ').append(e.getSQLState());
      }
      try {
        c.commit();
      } catch (SQLException e) {
        sb.append(" commit ").append(e.getSQLState());
      }
      c.setAutoCommit(true);
      return sb + " " + q(c, "select count(*) from jp_copy where b = 't'");
    });
    step("after refusal in a transaction", () -> q(c, "select 'usable'") + " autocommit=" + c.getAutoCommit());
    step("refusal: while a portal is open", () -> {
      c.setAutoCommit(false);
      StringBuilder sb = new StringBuilder();
      try (Statement s = c.createStatement(); Statement r = c.createStatement()) {
        s.setFetchSize(5);
        ResultSet rs = s.executeQuery("select g from generate_series(1, 20) g");
        int n = 0;
        while (n < 7 && rs.next()) n++;
        try {
          r.executeQuery(REFUSED).close();
          sb.append("ran ");
        } catch (SQLException e) {
          sb.append(e.getSQLState()).append(' ');
        }
        try {
          while (rs.next()) n++;
          sb.append(n);
        } catch (SQLException e) {
          sb.append(n).append(' ').append(e.getSQLState());
        }
      }
      c.rollback();
      c.setAutoCommit(true);
      return sb;
    });
    step("after refusal with an open portal", () -> q(c, "select 'usable'"));
    step("refusal: server-side copy file", () -> u(c, "copy jp_copy to '/tmp/jp_copy.out'"));
    step("after copy file", () -> q(c, "select 'usable'"));
    // Large objects (setBlob/getBlob on an oid column, Hibernate's @Lob) go through the
    // LargeObjectManager, which calls lo_open, loread … with FunctionCall (fastpath) messages.
    step("refusal: large object", () -> {
      c.setAutoCommit(false);
      try {
        org.postgresql.largeobject.LargeObjectManager lom = c.unwrap(PGConnection.class).getLargeObjectAPI();
        long oid = lom.createLO();
        org.postgresql.largeobject.LargeObject lo = lom.open(oid, org.postgresql.largeobject.LargeObjectManager.WRITE);
        lo.write("large".getBytes(StandardCharsets.UTF_8));
        lo.close();
        lo = lom.open(oid, org.postgresql.largeobject.LargeObjectManager.READ);
        String r = new String(lo.read(10), StandardCharsets.UTF_8);
        lo.close();
        lom.delete(oid);
        c.commit();
        return r;
      } catch (SQLException e) {
        c.rollback();
        return err(e);
      } finally {
        c.setAutoCommit(true);
      }
    });
    step("after large object", () -> q(c, "select 'usable'"));
    step("refusal: blob", () -> {
      u(c, "create table jp_blob (id int, data oid)");
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("insert into jp_blob values (1, ?)")) {
        ps.setBlob(1, new java.io.ByteArrayInputStream(new byte[] {1, 2, 3}));
        ps.executeUpdate();
        c.commit();
        return "stored";
      } catch (SQLException e) {
        c.rollback();
        return err(e);
      } finally {
        c.setAutoCommit(true);
      }
    });
    step("after blob", () -> q(c, "select 'usable'"));
    step("cleanup refusals", () -> {
      u(c, "delete from jp_copy where a > 9000");
      return "ok";
    });
  }

  static void refusalsPrepared(Connection c, String label) {
    step("refusal: " + label + " prepared, repeated", () -> {
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement("select setting from pg_catalog.pg_settings where name = ?")) {
        for (int run = 0; run < 7; run++) {
          ps.setString(1, "max_index_keys");
          try {
            sb.append(rows(ps.executeQuery())).append(' ');
          } catch (SQLException e) {
            sb.append(e.getSQLState()).append(' ');
          }
        }
      }
      return sb;
    });
    step(label + " after refused prepared", () -> q(c, "select 'usable'"));
    step("refusal: " + label + " prepared batch", () -> {
      try (PreparedStatement ps = c.prepareStatement("insert into jp_copy select ?, setting from pg_catalog.pg_settings where name = 'max_index_keys'")) {
        for (int i = 0; i < 3; i++) {
          ps.setInt(1, 9100 + i);
          ps.addBatch();
        }
        try {
          return Arrays.toString(ps.executeBatch());
        } catch (BatchUpdateException e) {
          return "BatchUpdateException " + e.getSQLState() + " " + Arrays.toString(e.getUpdateCounts());
        }
      }
    });
    step(label + " after refused prepared batch", () -> q(c, "select 'usable'"));
    step("refusal: " + label + " in a transaction, then go on", () -> {
      c.setAutoCommit(false);
      StringBuilder sb = new StringBuilder();
      try (PreparedStatement ins = c.prepareStatement("insert into jp_copy values (?, 'p')"); PreparedStatement bad = c.prepareStatement(REFUSED)) {
        ins.setInt(1, 9201);
        sb.append(ins.executeUpdate()).append(' ');
        try {
          bad.executeQuery().close();
          sb.append("ran ");
        } catch (SQLException e) {
          sb.append(e.getSQLState()).append(' ');
        }
        ins.setInt(1, 9202);
        try {
          sb.append(ins.executeUpdate()).append(' ');
        } catch (SQLException e) {
          sb.append(e.getSQLState()).append(' ');
        }
      }
      try {
        c.commit();
      } catch (SQLException e) {
        sb.append("commit ").append(e.getSQLState()).append(' ');
      }
      c.setAutoCommit(true);
      sb.append(q(c, "select a from jp_copy where b = 'p' order by a"));
      u(c, "delete from jp_copy where b = 'p'");
      return sb;
    });
    step(label + " after refusal in a transaction", () -> q(c, "select 'usable'"));
  }

  /** Reads the masked column every way JDBC reads a column; prints everything it got. */
  static void masked() throws Exception {
    for (String props : new String[] {"", "prepareThreshold=-1", "binaryTransfer=false", "prepareThreshold=1", "preferQueryMode=simple"}) {
      Connection c = connect(props);
      String label = props.isEmpty() ? "default" : props;
      step(label + ": statement", () -> q(c, "select id, name, ssn from customers order by id"));
      step(label + ": alias", () -> q(c, "select ssn as x, upper(ssn) as y from customers order by id limit 3"));
      step(label + ": prepared loop", () -> {
        StringBuilder sb = new StringBuilder();
        try (PreparedStatement ps = c.prepareStatement("select id, ssn from customers where id <= ? order by id")) {
          for (int run = 0; run < 7; run++) {
            ps.setInt(1, 3);
            ResultSet rs = ps.executeQuery();
            while (rs.next()) sb.append(rs.getString(2)).append(' ').append(new String(rs.getBytes(2), StandardCharsets.UTF_8)).append(' ').append(rs.getObject(2)).append(' ').append(rs.getCharacterStream(2) != null).append(';');
            rs.close();
          }
        }
        return sb;
      });
      // A masked int (`fake`: the same made-up number in text and binary format, read as an
      // Integer and as a primitive int) and a masked bytea (`redact`: NULL), both sent in binary
      // once the driver prepares them on the server.
      step(label + ": typed columns", () -> {
        StringBuilder sb = new StringBuilder();
        try (PreparedStatement ps = c.prepareStatement("select id, pin, code from customers where id <= ? order by id")) {
          for (int run = 0; run < 7; run++) {
            ps.setInt(1, 2);
            ResultSet rs = ps.executeQuery();
            while (rs.next()) {
              sb.append(rs.getObject(2)).append(' ').append(rs.getInt(2)).append(rs.wasNull() ? " wasNull" : "");
              sb.append(' ').append(Arrays.toString(rs.getBytes(3))).append(';');
            }
            rs.close();
          }
        }
        return sb;
      });
      step(label + ": fetch size", () -> {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
          s.setFetchSize(4);
          ResultSet rs = s.executeQuery("select ssn from customers order by id");
          StringBuilder sb = new StringBuilder();
          while (rs.next()) sb.append(rs.getString(1)).append(' ');
          rs.close();
          c.commit();
          return sb;
        } finally {
          c.setAutoCommit(true);
        }
      });
      step(label + ": copy out", () -> {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        c.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY (select id, ssn from customers order by id) TO STDOUT", out);
        return oneLine(out.toString(StandardCharsets.UTF_8));
      });
      step(label + ": returning", () -> q(c, "update customers set name = name where id = 1 returning ssn"));
      step(label + ": metadata", () -> rows(c.getMetaData().getColumns(null, "public", "customers", "ssn"), "COLUMN_NAME", "TYPE_NAME"));
      c.close();
    }
  }
}
