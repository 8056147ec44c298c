// The consume loop both consumers share: parse, handle, retry or dead-letter, then commit.
//
// A record is marked for commit only after its effect is applied, or after its retry/dlq copy
// is acknowledged; franz-go commits only marked offsets (AutoCommitMarks), periodically and once
// more when we stop. So each event is handled at least once, and the services' idempotent
// handling makes that exactly one effect.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// errTransient is a failure worth retrying, such as a timeout of a service this one depends on.
type errTransient struct{ reason string }

func (e errTransient) Error() string { return e.reason }

// simulateFaults is the demo's faults: "flaky-" skus fail on the first attempt, "broken-" always.
func simulateFaults(o order, attempt int) error {
	if strings.HasPrefix(o.SKU, "broken-") || (strings.HasPrefix(o.SKU, "flaky-") && attempt == 1) {
		return errTransient{fmt.Sprintf("simulated failure of %s on attempt %d", o.SKU, attempt)}
	}
	return nil
}

type dlqEntry struct {
	OrderID  *string `json:"order_id"`
	Error    string  `json:"error"`
	Attempts int     `json:"attempts"`
}

type processor struct {
	service, retryTopic, dlqTopic string
	handle                        func(order, int) error // applies the effect, or errTransient
	producer                      *kgo.Client
	mu                            sync.Mutex
	dlqSent                       []dlqEntry // what this process sent to its dlq, for GET /dlq
}

func newProcessor(service string, handle func(order, int) error) *processor {
	return &processor{service: service, handle: handle, producer: newClient(),
		retryTopic: "orders." + service + ".retry", dlqTopic: "orders." + service + ".dlq"}
}

// send copies rec to the retry or dlq topic and waits for the acknowledgement. If the broker
// does not acknowledge it, the process stops without committing, so the event is read again.
func (p *processor) send(topic string, rec *kgo.Record, attempts int, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: []kgo.RecordHeader{
		{Key: "attempts", Value: []byte(strconv.Itoa(attempts))},
		{Key: "error", Value: []byte(reason)}}}
	if err := p.producer.ProduceSync(ctx, out).FirstErr(); err != nil {
		log.Fatalf("%s: could not write to %s: %v", p.service, topic, err)
	}
}

func (p *processor) process(rec *kgo.Record) {
	attempt := 1
	for _, h := range rec.Headers {
		if h.Key == "attempts" {
			n, _ := strconv.Atoi(string(h.Value))
			attempt = n + 1
		}
	}
	o, err := parseOrder(rec.Value)
	if err != nil {
		p.send(p.dlqTopic, rec, 1, err.Error())
		p.recordDLQ(dlqEntry{Error: err.Error(), Attempts: 1})
		return
	}
	if err := p.handle(o, attempt); err != nil {
		if attempt < maxAttempts {
			p.send(p.retryTopic, rec, attempt, err.Error())
		} else {
			p.send(p.dlqTopic, rec, attempt, err.Error())
			p.recordDLQ(dlqEntry{OrderID: &o.OrderID, Error: err.Error(), Attempts: attempt})
		}
	}
}

func (p *processor) recordDLQ(e dlqEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dlqSent = append(p.dlqSent, e)
}

func (p *processor) serveDLQ(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	writeJSON(w, http.StatusOK, append([]dlqEntry{}, p.dlqSent...))
}

// run consumes until ctx is done, then commits what it marked and leaves the group.
func (p *processor) run(ctx context.Context) {
	if err := ensureTopics(ctx, p.producer, ordersTopic, p.retryTopic, p.dlqTopic); err != nil {
		log.Fatalf("%s: %v", p.service, err)
	}
	consumer := newClient(
		kgo.ConsumerGroup(p.service),
		// The retry topic is consumed by the same loop: a retried event is just another event.
		kgo.ConsumeTopics(ordersTopic, p.retryTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group handles earlier orders
		kgo.AutoCommitMarks(),
	)
	log.Printf("%s service consuming", p.service)
	for ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachError(func(topic string, partition int32, err error) {
			if ctx.Err() == nil {
				log.Printf("%s: fetching %s-%d: %v", p.service, topic, partition, err)
			}
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			p.process(rec)
			consumer.MarkCommitRecords(rec)
		})
	}
	done, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := consumer.CommitMarkedOffsets(done); err != nil {
		log.Printf("%s: final commit: %v", p.service, err)
	}
	consumer.Close() // leaves the group at once, so its partitions move without a timeout
	p.producer.Close()
	log.Printf("%s service stopped", p.service)
}
