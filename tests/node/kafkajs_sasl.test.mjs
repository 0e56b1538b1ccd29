// kafkajs with SASL/PLAIN (its own SASL code): the right password produces and reads back;
// a wrong one is refused with an authentication error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startBroker } from './broker.mjs';

const { Kafka, logLevel } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker;
const uniq = prefix => `${prefix}-${randomBytes(6).toString('hex')}`;
const client = password => new Kafka({
  clientId: 'oxbow-node-sasl',
  brokers: [broker.bootstrap],
  sasl: { mechanism: 'plain', username: 'ops', password },
  retry: { retries: 1 },
  logLevel: logLevel.NOTHING,
});

before(async () => {
  broker = await startBroker({ plainUsers: { ops: 'ops-secret' } });
});

after(async () => {
  if (broker) await broker.stop();
});

test('given PLAIN credentials when kafkajs produces and consumes then it round-trips, and a wrong password is refused', async () => {
  const topic = uniq('sasl');
  const kafka = client('ops-secret');
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ value: `m${i}` })) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: uniq('sasl-group') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.size} records`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value.toString());
        if (seen.size === 50) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  assert.equal(seen.size, 50);

  const intruder = client('guess').producer();
  await assert.rejects(intruder.connect(), err => /SASL|auth/i.test(`${err.name} ${err.message}`));
});
