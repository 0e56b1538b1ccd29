// Drives Oxbow with Debian's segmentio kafka-go (golang-github-segmentio-kafka-go-dev 0.2):
// CreateTopics through a Conn, a Writer (Produce v2, magic-1 message sets), and a group Reader
// (JoinGroup/SyncGroup/Heartbeat, Fetch v2, OffsetCommit v2, OffsetFetch v1) that commits what
// it read; a second Reader of the same group then sees only records written after the commit.
// Prints one JSON line; the Python test (tests/python/test_go_clients.py) checks it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

type result struct {
	First  []string `json:"first"`
	Second []string `json:"second"`
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func write(broker, topic string, from, to int) {
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{broker}, Topic: topic, Balancer: &kafka.Hash{}})
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("kafka-go-%d", i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fail("write", err)
	}
	if err := w.Close(); err != nil {
		fail("close writer", err)
	}
}

func read(broker, topic, group string, n int) []string {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, GroupID: group,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			fail(fmt.Sprintf("fetch (after %d of %d)", len(got), n), err)
		}
		got = append(got, string(m.Key)+"="+string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			fail("commit", err)
		}
	}
	if err := r.Close(); err != nil {
		fail("close reader", err)
	}
	return got
}

func main() {
	if len(os.Args) != 5 {
		fail("usage", fmt.Errorf("kafka_go_check BOOTSTRAP TOPIC GROUP COUNT"))
	}
	broker, topic, group := os.Args[1], os.Args[2], os.Args[3]
	count, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fail("count", err)
	}
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		fail("dial", err)
	}
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		fail("create topic", err)
	}
	conn.Close()
	write(broker, topic, 0, count)
	out := result{First: read(broker, topic, group, count)}
	write(broker, topic, count, count+5)
	out.Second = read(broker, topic, group, 5)
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}
