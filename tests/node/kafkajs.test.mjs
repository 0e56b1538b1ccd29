// kafkajs 2.x (pure JavaScript, its own protocol code, strict about versions) against oxbow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startBroker } from './broker.mjs';

const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker;
let kafka;
const uniq = prefix => `${prefix}-${randomBytes(6).toString('hex')}`;

before(async () => {
  broker = await startBroker();
  kafka = new Kafka({ clientId: 'oxbow-node-tests', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
});

after(async () => {
  if (broker) await broker.stop();
});

async function withAdmin(fn) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function createTopic(topic, numPartitions, configEntries = []) {
  await withAdmin(admin => admin.createTopics({ topics: [{ topic, numPartitions, configEntries }], waitForLeaders: true }));
}

async function produce(topic, messages, options = {}) {
  const producer = kafka.producer(options.producer || {});
  await producer.connect();
  try {
    return await producer.send({ topic, acks: -1, messages, ...(options.send || {}) });
  } finally {
    await producer.disconnect();
  }
}

// Runs a group consumer until `wanted` messages arrived (committing each one) or timeoutMs passed.
async function consumeInGroup(groupId, topic, wanted, timeoutMs = 20000) {
  const consumer = kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  await consumer.connect();
  const got = [];
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (got.length >= wanted) return;
            got.push({ partition, ...message });
            await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
            if (got.length >= wanted) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

test('idempotent gzip produce with keys and headers is consumed back in order', async () => {
  const topic = uniq('js');
  await createTopic(topic, 1);
  const messages = Array.from({ length: 50 }, (_, i) => ({
    key: `k${i % 3}`,
    value: `value-${i}-`.repeat(10),
    headers: { seq: String(i), origin: 'node' },
  }));
  const sent = await produce(topic, messages, {
    producer: { idempotent: true, maxInFlightRequests: 1 },
    send: { compression: CompressionTypes.GZIP },
  });
  assert.equal(sent[0].errorCode, 0);
  const got = await consumeInGroup(uniq('grp'), topic, 50);
  assert.equal(got.length, 50);
  got.forEach((m, i) => {
    assert.equal(m.offset, String(i));
    assert.equal(m.key.toString(), `k${i % 3}`);
    assert.equal(m.value.toString(), messages[i].value);
    assert.equal(m.headers.seq.toString(), String(i));
    assert.equal(m.headers.origin.toString(), 'node');
  });
});

test('a group resumes from committed offsets, and admin lists, describes and fetches them', async () => {
  const topic = uniq('js');
  const groupId = uniq('grp');
  await createTopic(topic, 2);
  await produce(topic, Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `v${i}` })));

  const first = await consumeInGroup(groupId, topic, 8);
  assert.equal(first.length, 8);
  const rest = await consumeInGroup(groupId, topic, 12);
  assert.equal(rest.length, 12, 'the second consumer must start at the committed offsets');
  const seen = [...first, ...rest].map(m => `${m.partition}:${m.offset}`).sort();
  const all = [0, 1].flatMap(p => Array.from({ length: 10 }, (_, o) => `${p}:${o}`)).sort();
  assert.deepEqual(seen, all);

  await withAdmin(async admin => {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.deepEqual(offsets[0].partitions.map(p => [p.partition, p.offset]).sort(), [[0, '10'], [1, '10']]);
    const { groups } = await admin.listGroups();
    assert.ok(groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'));
    const described = await admin.describeGroups([groupId]);
    assert.equal(described.groups[0].state, 'Empty');
    assert.equal(described.groups[0].errorCode, 0);
  });
});

test('two consumers in a group split the partitions', async () => {
  const topic = uniq('js');
  const groupId = uniq('grp');
  await createTopic(topic, 4);
  const assignments = new Map();
  const consumers = [0, 1].map(i => {
    const c = kafka.consumer({ groupId, heartbeatInterval: 200, maxWaitTimeInMs: 200 });
    c.on(c.events.GROUP_JOIN, e => assignments.set(i, e.payload.memberAssignment[topic] || []));
    return c;
  });
  try {
    for (const c of consumers) {
      await c.connect();
      await c.subscribe({ topics: [topic] });
      await c.run({ eachMessage: async () => {} });
    }
    const deadline = Date.now() + 20000;
    const split = () => {
      const a = assignments.get(0) || [];
      const b = assignments.get(1) || [];
      return a.length === 2 && b.length === 2 && [...a, ...b].sort().join() === '0,1,2,3';
    };
    while (!split() && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
    assert.ok(split(), JSON.stringify([...assignments]));
    await withAdmin(async admin => {
      const { groups } = await admin.describeGroups([groupId]);
      assert.equal(groups[0].state, 'Stable');
      assert.equal(groups[0].members.length, 2);
    });
  } finally {
    for (const c of consumers) await c.disconnect();
  }
});

test('admin creates, describes, looks up offsets by time and deletes topics', async () => {
  const topic = uniq('js');
  await withAdmin(async admin => {
    assert.equal(
      await admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }),
      true,
    );
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(meta.topics[0].partitions.length, 3);
    const configs = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
      includeSynonyms: false,
    });
    assert.equal(configs.resources[0].configEntries[0].configValue, '3600000');

    const base = 1600000000000;
    await produce(topic, Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `t${i}`, timestamp: String(base + i * 1000) })));
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, base + 3500);
    assert.equal(byTime.find(p => p.partition === 0).offset, '4');
    const ends = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(ends.find(p => p.partition === 0), { partition: 0, offset: '10', high: '10', low: '0' });

    await admin.deleteTopics({ topics: [topic] });
    assert.ok(!(await admin.listTopics()).includes(topic));
  });
});

test('transactions: read_committed sees committed records only, offsets commit with the transaction', async () => {
  const topic = uniq('js-txn');
  const group = uniq('js-txn-group');
  await createTopic(topic, 2);
  const producer = kafka.producer({ transactionalId: uniq('txn'), idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const t1 = await producer.transaction();
    await t1.send({ topic, messages: [{ value: 'c1', partition: 0 }, { value: 'c2', partition: 1 }] });
    await t1.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '5' }] }] });
    await t1.commit();
    const t2 = await producer.transaction();
    await t2.send({ topic, messages: [{ value: 'aborted-1', partition: 0 }, { value: 'aborted-2', partition: 1 }] });
    await t2.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '9' }] }] });
    await t2.abort();
    const t3 = await producer.transaction();
    await t3.send({ topic, messages: [{ value: 'c3', partition: 0 }] });
    await t3.commit();
  } finally {
    await producer.disconnect();
  }
  // kafkajs consumers read committed by default; wait for more than there is to see nothing else.
  const got = await consumeInGroup(uniq('js-txn-reader'), topic, 4, 4000);
  assert.deepEqual(got.map(m => m.value.toString()).sort(), ['c1', 'c2', 'c3']);
  const committed = await withAdmin(admin => admin.fetchOffsets({ groupId: group, topics: [topic] }));
  const p0 = committed[0].partitions.find(p => p.partition === 0);
  assert.equal(p0.offset, '5', 'the aborted transaction did not move the committed offset');
});

test('a second producer with the same transactional id fences the first', async () => {
  const topic = uniq('js-fence');
  await createTopic(topic, 1);
  const transactionalId = uniq('txn-fence');
  const first = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, retry: { retries: 1 } });
  const second = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  await first.connect();
  await second.connect();
  try {
    const zombie = await first.transaction();
    await zombie.send({ topic, messages: [{ value: 'zombie' }] });
    const live = await second.transaction();
    await live.send({ topic, messages: [{ value: 'live' }] });
    await live.commit();
    await assert.rejects(zombie.commit(), err => {
      assert.match(err.type || err.name, /FENCED|INVALID_PRODUCER_EPOCH/);
      return true;
    });
  } finally {
    await first.disconnect().catch(() => {});
    await second.disconnect();
  }
  const got = await consumeInGroup(uniq('js-fence-reader'), topic, 2, 3000);
  assert.deepEqual(got.map(m => m.value.toString()), ['live']);
});
