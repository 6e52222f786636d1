/**
 * The benchmark's table, generated inside PostgreSQL so loading it costs seconds, not the copy's
 * own machinery: a bigint key and the column types real exports carry (int, text that CSV must
 * quote, decimal, timestamp with zone, boolean, nullable text). About 90 bytes a row as CSV.
 */
import type { PostgresServer } from "@ferry/hack/services";

export const COLUMNS = 7;

/**
 * Creates `name` with `rows` rows in `database`, readable by every role (the agent reads as its
 * own). Every 7th note holds a comma, every 13th a doubled quote and every 101st a line break, so
 * the CSV writer's quoting path is exercised on a real share of the rows; every 5th comment is
 * NULL. UNLOGGED and the key built after the load: the table is thrown away with the server, and
 * this halves the load time.
 */
export async function createTable(
  pg: PostgresServer,
  database: string,
  name: string,
  rows: number,
): Promise<{ seconds: number }> {
  const started = performance.now();
  await pg.psql(
    `CREATE UNLOGGED TABLE ${name} (
       id bigint NOT NULL,
       quantity integer NOT NULL,
       note text NOT NULL,
       amount numeric(12,2) NOT NULL,
       created timestamptz NOT NULL,
       active boolean NOT NULL,
       comment text
     );
     INSERT INTO ${name}
     SELECT g,
            ((g::bigint * 7919) % 100000)::int,
            'order ' || g || CASE WHEN g % 7 = 0 THEN ', priority' ELSE '' END
                          || CASE WHEN g % 13 = 0 THEN ' "rush"' ELSE '' END
                          || CASE WHEN g % 101 = 0 THEN E'\\nsecond line' ELSE '' END,
            ((g::bigint * 37) % 1000000) / 100.0,
            timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
            g % 3 = 0,
            CASE WHEN g % 5 = 0 THEN NULL ELSE 'customer ' || (g % 9973) END
     FROM generate_series(1, ${rows}) g;
     ALTER TABLE ${name} ADD PRIMARY KEY (id);
     GRANT SELECT ON ${name} TO PUBLIC;`,
    database,
  );
  // VACUUM cannot run inside the implicit transaction of a multi-statement command.
  await pg.psql(`VACUUM ANALYZE ${name}`, database);
  return { seconds: (performance.now() - started) / 1000 };
}
