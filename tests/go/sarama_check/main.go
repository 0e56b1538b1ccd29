// Drives Oxbow with Debian's sarama (golang-github-shopify-sarama-dev 1.22) at its default
// Version (0.8.2): a SyncProducer (Produce v0, message sets of magic 0), a partition consumer
// from the oldest offset (ListOffsets v0, Fetch v0), and an offset manager committing and reading
// back a group's offset (FindCoordinator v0, OffsetCommit v1, OffsetFetch v1). Prints one JSON
// line with what it saw; the Python test (tests/python/test_go_clients.py) checks it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

type result struct {
	Version   string   `json:"version"`
	Produced  []int64  `json:"produced"`
	Consumed  []string `json:"consumed"`
	Offsets   []int64  `json:"offsets"`
	Committed int64    `json:"committed"`
	Metadata  string   `json:"metadata"`
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 5 {
		fail("usage", fmt.Errorf("sarama_check BOOTSTRAP TOPIC GROUP COUNT"))
	}
	broker, topic, group := os.Args[1], os.Args[2], os.Args[3]
	count, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fail("count", err)
	}
	cfg := sarama.NewConfig() // Version stays sarama's default
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	client, err := sarama.NewClient([]string{broker}, cfg)
	if err != nil {
		fail("client", err)
	}
	defer client.Close()
	out := result{Version: cfg.Version.String()}

	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		fail("producer", err)
	}
	for i := 0; i < count; i++ {
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Partition: 0,
			Key:   sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i)),
		})
		if err != nil {
			fail("produce", err)
		}
		out.Produced = append(out.Produced, offset)
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("consumer", err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		fail("consume", err)
	}
	timeout := time.After(20 * time.Second)
	for len(out.Consumed) < count {
		select {
		case m := <-pc.Messages():
			out.Consumed = append(out.Consumed, string(m.Key)+"="+string(m.Value))
			out.Offsets = append(out.Offsets, m.Offset)
		case e := <-pc.Errors():
			fail("fetch", e)
		case <-timeout:
			fail("consume", fmt.Errorf("only %d of %d messages", len(out.Consumed), count))
		}
	}
	pc.Close()

	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		fail("offset manager", err)
	}
	pom, err := om.ManagePartition(topic, 0)
	if err != nil {
		fail("manage partition", err)
	}
	pom.MarkOffset(int64(count), "sarama-meta")
	pom.Close()
	om.Close()

	om2, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		fail("offset manager", err)
	}
	pom2, err := om2.ManagePartition(topic, 0)
	if err != nil {
		fail("manage partition", err)
	}
	out.Committed, out.Metadata = pom2.NextOffset()
	pom2.Close()
	om2.Close()
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}
