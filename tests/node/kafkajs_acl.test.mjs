// kafkajs (its own protocol code) managing ACLs over SASL/PLAIN: the super user creates,
// describes and deletes them; the department user is held to its prefixed topic ACL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startBroker } from './broker.mjs';

const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker;
const uniq = prefix => `${prefix}-${randomBytes(6).toString('hex')}`;
const client = (username, password) => new Kafka({
  clientId: 'oxbow-node-acl',
  brokers: [broker.bootstrap],
  sasl: { mechanism: 'plain', username, password },
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});

before(async () => {
  broker = await startBroker({ plainUsers: { admin: 'admin-secret', team: 'team-secret' }, superUsers: ['admin'] });
});

after(async () => {
  if (broker) await broker.stop();
});

test('given prefixed ACLs made by the super user when the team produces then only its topics accept it', async () => {
  const prefix = uniq('team');
  const mine = `${prefix}-events`;
  const other = uniq('other');
  const admin = client('admin', 'admin-secret').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: mine }, { topic: other }] });
    const acl = {
      resourceType: AclResourceTypes.TOPIC,
      resourceName: `${prefix}-`,
      resourcePatternType: ResourcePatternTypes.PREFIXED,
      principal: 'User:team',
      host: '*',
      operation: AclOperationTypes.WRITE,
      permissionType: AclPermissionTypes.ALLOW,
    };
    await admin.createAcls({ acl: [acl] });
    const described = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    assert.equal(described.resources.length, 1);
    assert.equal(described.resources[0].resourceName, `${prefix}-`);

    const producer = client('team', 'team-secret').producer();
    await producer.connect();
    try {
      await producer.send({ topic: mine, messages: [{ value: 'ok' }] });
      await assert.rejects(producer.send({ topic: other, messages: [{ value: 'no' }] }), err => {
        assert.match(`${err.type || ''} ${err.message}`, /TOPIC_AUTHORIZATION_FAILED|not authorized/i);
        return true;
      });
    } finally {
      await producer.disconnect();
    }

    const deleted = await admin.deleteAcls({ filters: [{ ...acl }] });
    assert.equal(deleted.filterResponses[0].matchingAcls.length, 1);
  } finally {
    await admin.disconnect();
  }
});
