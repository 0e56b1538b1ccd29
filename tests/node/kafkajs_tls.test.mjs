// kafkajs over the SSL listener (Node's own TLS stack): create a topic, produce, read everything
// back in a consumer group and commit; Metadata names the SSL listener's port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startBroker } from './broker.mjs';

const { Kafka, logLevel } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker;
let kafka;
const uniq = prefix => `${prefix}-${randomBytes(6).toString('hex')}`;

before(async () => {
  broker = await startBroker({ tls: true });
  kafka = new Kafka({
    clientId: 'oxbow-node-tls',
    brokers: [broker.bootstrap],
    ssl: { ca: [broker.ca], servername: 'localhost' },
    logLevel: logLevel.NOTHING,
  });
});

after(async () => {
  if (broker) await broker.stop();
});

test('given an SSL listener when kafkajs produces and consumes in a group then every record arrives once', async () => {
  const topic = uniq('tls');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  const cluster = await admin.describeCluster();
  assert.deepEqual(cluster.brokers.map(b => `${b.host}:${b.port}`), [broker.bootstrap]);
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const values = Array.from({ length: 300 }, (_, i) => `value-${i}`);
  await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i % 5}`, value })) });
  await producer.disconnect();

  const groupId = uniq('tls-group');
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.size} records over TLS`)), 60000);
    consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        seen.add(message.value.toString());
        if (seen.size === values.length) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  assert.deepEqual([...seen].sort(), [...values].sort());

  const check = kafka.admin();
  await check.connect();
  const offsets = await check.fetchOffsets({ groupId, topics: [topic] });
  await check.disconnect();
  const total = offsets[0].partitions.reduce((sum, p) => sum + Number(p.offset), 0);
  assert.equal(total, values.length);
});
