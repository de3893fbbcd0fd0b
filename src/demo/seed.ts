/**
 * The demo's sample database `shop`: customers (with personal data worth masking: email, phone,
 * ssn) and their orders, a few thousand rows of deterministic fake data made by generate_series
 * (the same rows on every machine, no generator dependency), owned by the gateway's role.
 *
 * Seeding happens once: tables that already hold rows are left alone, so a restarted demo keeps
 * whatever the user changed.
 */
import { literal, openSql, type SqlSession } from './sql-session.ts';

export const DATABASE = 'shop';
export const GATEWAY_ROLE = 'pgwarden';
export const CUSTOMERS = 2000;
export const ORDERS = 6000;

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Dennis', 'Margaret', 'Niklaus', 'Shafi', 'John', 'Leslie', 'Katherine', 'Tim', 'Hedy', 'Guido', 'Sophie'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Ritchie', 'Hamilton', 'Wirth', 'Goldwasser', 'McCarthy', 'Lamport', 'Johnson', 'Berners', 'Lamarr', 'Rossum', 'Wilson'];

const array = (words: string[]) => `array[${words.map(literal).join(', ')}]`;

const SCHEMA = `
create table if not exists customers (
  id integer primary key,
  name text not null,
  email text not null,
  phone text not null,
  ssn text not null,
  created_at timestamptz not null
);
create table if not exists orders (
  id integer primary key,
  customer_id integer not null references customers (id),
  status text not null,
  total numeric(10, 2) not null,
  created_at timestamptz not null
);
create index if not exists orders_customer_id on orders (customer_id);
`;

// Multiplying by primes spreads consecutive ids over the value ranges; the 9xx area numbers of
// the fake SSNs and 555 phone numbers are never issued to real people.
const DATA = `
insert into customers (id, name, email, phone, ssn, created_at)
select i,
       n.first || ' ' || n.last,
       lower(n.first || '.' || n.last || i) || '@example.com',
       '+1-555-' || lpad(((i * 7919) % 10000)::text, 4, '0'),
       '9' || lpad((i % 100)::text, 2, '0') || '-' || lpad(((i * 37) % 100)::text, 2, '0') || '-' || lpad(((i * 104729) % 10000)::text, 4, '0'),
       timestamptz '2023-01-01 00:00:00+00' + i * interval '4 hours 17 minutes'
  from generate_series(1, ${CUSTOMERS}) as i
 cross join lateral (select (${array(FIRST)})[1 + i % ${FIRST.length}] as first,
                            (${array(LAST)})[1 + (i * 7) % ${LAST.length}] as last) as n;
insert into orders (id, customer_id, status, total, created_at)
select i,
       1 + (i * 7) % ${CUSTOMERS},
       (array['pending', 'paid', 'shipped', 'delivered', 'refunded'])[1 + (i * 3) % 5],
       round(5 + ((i * 7907) % 50000) / 100.0, 2),
       timestamptz '2023-02-01 00:00:00+00' + i * interval '1 hour 23 minutes'
  from generate_series(1, ${ORDERS}) as i;
`;

export interface SeedOptions {
  /** The operator's URL (a role that may create roles and databases), any database. */
  operatorUrl: string;
  /** The gateway role's password; with `roles: false` (PGlite) there are no roles to make. */
  gatewayPassword?: string;
  /** Whether the server has roles and databases of its own (PGlite has one of each). */
  roles: boolean;
  say(line: string): void;
}

/** Make the gateway role, the `shop` database and its data where missing; returns whether rows were added. */
export async function ensureShop(o: SeedOptions): Promise<{ seeded: boolean }> {
  if (o.roles) {
    if (o.gatewayPassword === undefined) throw new Error('the gateway role needs a password');
    await withSql(o.operatorUrl, async (sql) => {
      const role = await sql.query(`select 1 from pg_roles where rolname = ${literal(GATEWAY_ROLE)}`);
      if (!role.length) await sql.query(`create role ${GATEWAY_ROLE} login password ${literal(o.gatewayPassword!)}`);
      else if (!(await canSignIn(o.operatorUrl, o.gatewayPassword!))) {
        // The password file is the truth; a role that no longer matches it (its file was lost,
        // or another data directory set its own) gets this one.
        o.say(`setting the password of the existing role ${GATEWAY_ROLE}`);
        await sql.query(`alter role ${GATEWAY_ROLE} login password ${literal(o.gatewayPassword!)}`);
      }
      const db = await sql.query(`select 1 from pg_database where datname = ${literal(DATABASE)}`);
      if (!db.length) {
        o.say(`creating database ${DATABASE}`);
        await sql.query(`create database ${DATABASE} owner ${GATEWAY_ROLE}`);
      }
    });
  }
  const shopUrl = o.roles ? withDatabase(o.operatorUrl, DATABASE) : o.operatorUrl;
  return withSql(shopUrl, async (sql) => {
    await sql.query(`begin; ${SCHEMA}`);
    try {
      const [[count]] = await sql.query('select count(*) from customers');
      const seeded = count === '0';
      if (seeded) {
        o.say(`seeding ${CUSTOMERS} customers and ${ORDERS} orders`);
        await sql.query(DATA);
      }
      if (o.roles) await sql.query(`alter table customers owner to ${GATEWAY_ROLE}; alter table orders owner to ${GATEWAY_ROLE}`);
      await sql.query('commit');
      return { seeded };
    } catch (err) {
      await sql.query('rollback').catch(() => undefined);
      throw err;
    }
  });
}

/** Whether the gateway role signs in with `password` (to the operator's database). */
async function canSignIn(operatorUrl: string, password: string): Promise<boolean> {
  const u = new URL(operatorUrl);
  u.username = GATEWAY_ROLE;
  u.password = encodeURIComponent(password);
  try {
    await (await openSql(u.toString())).close();
    return true;
  } catch {
    return false;
  }
}

async function withSql<T>(url: string, fn: (sql: SqlSession) => Promise<T>): Promise<T> {
  const sql = await openSql(url);
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/** The same URL with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
