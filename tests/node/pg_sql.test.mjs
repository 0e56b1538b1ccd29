// node-postgres (`pg`, pure JavaScript, its own wire-protocol code) against oxbow's SQL endpoint:
// a topic produced with kafkajs, landed in a lake table, queried with pg's simple queries and its
// extended protocol ($n parameters, sent as text with no declared types).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { startBroker } from './broker.mjs';

const { Kafka, logLevel } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const TOPIC = 'payments';
const N = 120;
let broker;
let kafka;

before(async () => {
  broker = await startBroker({ lakeTables: [TOPIC] });
  kafka = new Kafka({ clientId: 'oxbow-node-pg', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
});

after(async () => {
  if (broker) await broker.stop();
});

const payment = i => ({ id: i, amount: i * 0.5, currency: i % 3 === 0 ? 'USD' : 'EUR' });

// Retries `query` until `done(rows)` holds: the table is in the catalog once its sink opened it.
async function waitFor(client, query, done, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const { rows } = await client.query(query);
      if (done(rows)) return rows;
      last = JSON.stringify(rows);
    } catch (e) {
      last = `${e.code} ${e.message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out on ${query}: last answer ${last}\n${broker.logTail()}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

test('given a landed topic when pg queries it should answer count, sum, group-by and parameterised queries', async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < N; i++) messages.push({ key: `p${i}`, value: JSON.stringify(payment(i)), partition: i % 2 });
  await producer.send({ topic: TOPIC, acks: -1, messages });
  await producer.disconnect();

  const client = new pg.Client({ host: '127.0.0.1', port: broker.sqlPort, user: 'node', database: 'oxbow' });
  await client.connect();
  try {
    // int8 comes back as a string in pg, float8 as a number.
    const [totals] = await waitFor(client, `SELECT count(*) AS n, sum(amount) AS total FROM ${TOPIC}`,
      rows => rows.length === 1 && rows[0].n === String(N));
    const expected = Array.from({ length: N }, (_, i) => payment(i));
    assert.equal(totals.total, expected.reduce((s, p) => s + p.amount, 0));

    const { rows: groups } = await client.query(
      `SELECT currency, count(*) AS n, max(id) AS top FROM ${TOPIC} GROUP BY currency ORDER BY currency`);
    const count = c => expected.filter(p => p.currency === c).length;
    const top = c => Math.max(...expected.filter(p => p.currency === c).map(p => p.id));
    assert.deepEqual(groups, [
      { currency: 'EUR', n: String(count('EUR')), top: String(top('EUR')) },
      { currency: 'USD', n: String(count('USD')), top: String(top('USD')) },
    ]);

    // Extended protocol: parse, bind (text parameters of unspecified type), describe, execute.
    const { rows: picked, fields } = await client.query(
      `SELECT id, amount, _key FROM ${TOPIC} WHERE id >= $1 AND currency = $2 ORDER BY id`, [100, 'USD']);
    assert.deepEqual(fields.map(f => f.name), ['id', 'amount', '_key']);
    assert.deepEqual(picked, expected.filter(p => p.id >= 100 && p.currency === 'USD')
      .map(p => ({ id: String(p.id), amount: p.amount, _key: `p${p.id}` })));

    // A named prepared statement, parsed once and bound again with other values (as JDBC does
    // after its prepare threshold).
    const byCurrency = values => client.query({
      name: 'sum-by-currency', text: `SELECT sum(amount) AS total FROM ${TOPIC} WHERE currency = $1`, values });
    for (const c of ['EUR', 'USD', 'EUR']) {
      const { rows: [{ total }] } = await byCurrency([c]);
      assert.equal(total, expected.filter(p => p.currency === c).reduce((s, p) => s + p.amount, 0));
    }

    // Mistakes get PostgreSQL's SQLSTATEs: a syntax error, an unknown table.
    await assert.rejects(client.query(`SELEC count(*) FROM ${TOPIC}`), e => e.code === '42601');
    await assert.rejects(client.query('SELECT count(*) FROM no_such_table'), e => e.code === '42P01');
    // Read-only: the SQLSTATE PostgreSQL gives a write in a read-only transaction.
    await assert.rejects(client.query(`DELETE FROM ${TOPIC}`), e => e.code === '25006');
    // The connection still serves after the refusal.
    const { rows: [again] } = await client.query(`SELECT count(*) AS n FROM ${TOPIC} WHERE currency = $1`, ['EUR']);
    assert.equal(again.n, String(count('EUR')));
  } finally {
    await client.end();
  }
});
