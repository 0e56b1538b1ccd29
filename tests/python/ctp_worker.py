"""A consume-transform-produce job with confluent-kafka transactions, run as its own process by
test_transactions.py (which SIGKILLs it mid-transaction): reads `input` in group `group`, writes
each value upper-cased to `output`, commits every `per_txn` records with the input offsets in the
same transaction. Prints `committed N` after each commit and `open N` once a transaction holds
records that are on the broker but not committed. Exits when the input stays empty for 3 s once it has partitions."""

import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, input_topic, output_topic, txn_id, group, per_txn = sys.argv[1:7]
per_txn = int(per_txn)

consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # A killed job's member leaves the group when its session times out: keep that short.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    }
)
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 1})
producer.init_transactions(30)
consumer.subscribe([input_topic])

done, in_txn, idle_since = 0, 0, time.monotonic()
while True:
    msg = consumer.poll(0.2)
    if msg is None or msg.error():
        if not consumer.assignment():
            idle_since = time.monotonic()  # still joining the group (the killed member's session must expire)
        elif time.monotonic() - idle_since > 3 and in_txn == 0:
            break
        continue
    idle_since = time.monotonic()
    if in_txn == 0:
        producer.begin_transaction()
    producer.produce(output_topic, value=msg.value().upper(), partition=0)
    in_txn += 1
    done += 1
    if in_txn == per_txn // 2:
        producer.flush(30)
        print(f"open {done}", flush=True)
    if in_txn == per_txn:
        positions = [TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)]
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        in_txn = 0
        print(f"committed {done}", flush=True)
if in_txn:
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
consumer.close()
