/**
 * The stored procedure activity on real servers: typed parameters in, OUT/INOUT parameters and
 * result sets back, and failures reported without automatic retry once the call reached the server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type MariaDbServer,
  type PostgresServer,
  startMariaDb,
  startPostgres,
} from "../../../hack/src/services/index.ts";
import { type DataPlaneError, runStoredProcedure } from "../../src/dataplane/index.ts";
import { mariaDatabase, mariaStore, pgDatabase, postgresStore } from "./helpers.ts";

let pg: PostgresServer;
let maria: MariaDbServer;
before(async () => {
  [pg, maria] = await Promise.all([startPostgres(), startMariaDb()]);
});
after(async () => {
  await Promise.all([pg?.stop(), maria?.stop()]);
});

describe("PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  before(async () => {
    db = await pgDatabase(pg);
    await db.client.query(`
      CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2), updated timestamptz);
      INSERT INTO accounts VALUES (1, 100.00, NULL), (2, 5.50, NULL);
      CREATE PROCEDURE withdraw(acct int, amount numeric, at timestamptz, INOUT balance numeric, OUT note text)
      LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE accounts SET balance = accounts.balance - amount, updated = at WHERE id = acct
          RETURNING accounts.balance INTO balance;
        IF balance < 0 THEN RAISE EXCEPTION 'insufficient funds on account %', acct; END IF;
        note := format('account %s now %s', acct, balance);
      END $$;
      CREATE FUNCTION rich(min_balance numeric) RETURNS TABLE(id int, balance numeric, updated timestamptz)
      LANGUAGE sql AS $$ SELECT id, balance, updated FROM accounts WHERE balance >= min_balance ORDER BY id $$;
      CREATE FUNCTION totals(OUT n bigint, OUT total numeric) LANGUAGE sql AS $$ SELECT count(*), sum(balance) FROM accounts $$;
    `);
  });
  after(() => db.client.end());
  const store = () => postgresStore(pg, db.name);

  test("a procedure with typed IN parameters and INOUT/OUT results", async () => {
    const r = await runStoredProcedure({
      store: store(),
      call: {
        procedure: "public.withdraw",
        parameters: [
          { name: "acct", type: "Int", value: 1 },
          { name: "amount", type: "Decimal", value: "30.25" },
          { name: "at", type: "TimestampTz", value: "2024-05-01T10:00:00+02:00" },
          { name: "balance", type: "Decimal", direction: "InOut", value: null },
          { name: "note", type: "String", direction: "Out" },
        ],
      },
    });
    assert.deepEqual(r.outputs, { balance: "69.75", note: "account 1 now 69.75" });
    const row = await db.client.query(
      "SELECT balance::text, updated AT TIME ZONE 'UTC' AS u FROM accounts WHERE id = 1",
    );
    assert.equal(row.rows[0].balance, "69.75");
  });

  test("a set-returning function gives a result set; OUT parameters of a function give outputs", async () => {
    const r = await runStoredProcedure({
      store: store(),
      call: { procedure: "rich", parameters: [{ name: "min_balance", type: "Decimal", value: "1" }] },
    });
    assert.equal(r.resultSets.length, 1);
    assert.deepEqual(
      r.resultSets[0]!.columns.map((c) => `${c.name}:${c.kind}`),
      ["id:int32", "balance:decimal", "updated:timestamptz"],
    );
    assert.deepEqual(r.resultSets[0]!.rows, [
      ["1", "69.75", "2024-05-01T08:00:00Z"],
      ["2", "5.50", null],
    ]);
    const t = await runStoredProcedure({
      store: store(),
      call: {
        procedure: "totals",
        parameters: [
          { name: "n", type: "BigInt", direction: "Out" },
          { name: "total", type: "Decimal", direction: "Out" },
        ],
      },
    });
    assert.deepEqual(t.outputs, { n: "2", total: "75.25" });
  });

  test("an exception raised by the procedure is permanent; a missing procedure is named", async () => {
    await assert.rejects(
      runStoredProcedure({
        store: store(),
        call: {
          procedure: "withdraw",
          parameters: [
            { name: "acct", type: "Int", value: 2 },
            { name: "amount", type: "Decimal", value: "10" },
            { name: "at", type: "TimestampTz", value: null },
            { name: "balance", type: "Decimal", direction: "InOut" },
            { name: "note", type: "String", direction: "Out" },
          ],
        },
      }),
      (e: DataPlaneError) =>
        e.reason === "ProcedureFailed" && !e.transient && /insufficient funds on account 2/.test(e.message),
    );
    await assert.rejects(
      runStoredProcedure({ store: store(), call: { procedure: "nope" } }),
      (e: DataPlaneError) => e.reason === "ProcedureNotFound",
    );
    await assert.rejects(
      runStoredProcedure({ store: store(), call: { procedure: "withdraw; DROP TABLE accounts" } }),
      (e: DataPlaneError) => e.reason === "InvalidProcedure",
    );
    await assert.rejects(
      runStoredProcedure({
        store: store(),
        call: {
          procedure: "rich",
          parameters: [{ name: "min_balance", type: "Decimal", value: "1 OR 1=1" }],
        },
      }),
      (e: DataPlaneError) => e.reason === "InvalidParameter",
    );
  });
});

describe("MariaDB", () => {
  let db: Awaited<ReturnType<typeof mariaDatabase>>;
  before(async () => {
    db = await mariaDatabase(maria);
    await db.conn.query(`
      CREATE TABLE accounts (id int PRIMARY KEY, balance decimal(12,2), blob_col varbinary(8));
      INSERT INTO accounts VALUES (1, 100.00, NULL), (2, 5.50, NULL);
      CREATE PROCEDURE withdraw(IN acct INT, IN amount DECIMAL(12,2), IN tag VARBINARY(8), INOUT counter INT, OUT new_balance DECIMAL(12,2))
      BEGIN
        UPDATE accounts SET balance = balance - amount, blob_col = tag WHERE id = acct;
        SELECT balance INTO new_balance FROM accounts WHERE id = acct;
        IF new_balance < 0 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'insufficient funds'; END IF;
        SET counter = counter + 1;
        SELECT id, balance, blob_col FROM accounts ORDER BY id;
      END;
    `);
  });
  after(() => db.conn.end());

  test("IN, INOUT and OUT parameters, a result set and the affected rows", async () => {
    const r = await runStoredProcedure({
      store: mariaStore(maria, db.name),
      call: {
        procedure: "withdraw",
        parameters: [
          { name: "acct", type: "Int", value: 1 },
          { name: "amount", type: "Decimal", value: "0.75" },
          { name: "tag", type: "Binary", value: Buffer.from([0, 255]).toString("base64") },
          { name: "counter", type: "Int", direction: "InOut", value: 41 },
          { name: "new_balance", type: "Decimal", direction: "Out" },
        ],
      },
    });
    assert.deepEqual(r.outputs, { counter: "42", new_balance: "99.25" });
    assert.equal(r.resultSets.length, 1);
    assert.deepEqual(r.resultSets[0]!.rows, [
      ["1", "99.25", "AP8="],
      ["2", "5.50", null],
    ]);
  });

  test("SIGNAL in the procedure is a permanent ProcedureFailed", async () => {
    await assert.rejects(
      runStoredProcedure({
        store: mariaStore(maria, db.name),
        call: {
          procedure: `${db.name}.withdraw`,
          parameters: [
            { name: "acct", type: "Int", value: 2 },
            { name: "amount", type: "Decimal", value: "10" },
            { name: "tag", type: "Binary", value: null },
            { name: "counter", type: "Int", direction: "InOut", value: 0 },
            { name: "new_balance", type: "Decimal", direction: "Out" },
          ],
        },
      }),
      (e: DataPlaneError) =>
        e.reason === "ProcedureFailed" && !e.transient && /insufficient funds/.test(e.message),
    );
    await assert.rejects(
      runStoredProcedure({ store: mariaStore(maria, db.name), call: { procedure: "missing_proc" } }),
      (e: DataPlaneError) => e.reason === "ProcedureNotFound",
    );
  });
});
