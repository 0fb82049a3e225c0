package libp2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/p2p"
)

// envelopeOverhead is what gossipsub adds around a message's data (topic,
// signature, key, seqno, RPC framing); MaxGossipSize applies to the data.
const envelopeOverhead = 64 << 10

// gossipOptions configures gossipsub: strict signing, size limit, and peer
// scoring whose application score is our own penalty scoreboard, so peers
// penalised anywhere (bad sync blocks, malformed streams) also lose gossip
// standing, and invalid messages on any topic count against the sender.
func gossipOptions(h *Host) []pubsub.Option {
	params := &pubsub.PeerScoreParams{
		AppSpecificScore:  func(p peer.ID) float64 { return -h.scores.Score(p2p.PeerID(p.String())) },
		AppSpecificWeight: 1,
		// All test and local-testnet peers share 127.0.0.1: no IP colocation
		// penalty (weight 0 disables it).
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               10 * time.Minute,
		Topics:                    map[string]*pubsub.TopicScoreParams{},
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -50,
		PublishThreshold:            -80,
		GraylistThreshold:           -100,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 5,
	}
	return []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(p2p.MaxGossipSize + envelopeOverhead),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerExchange(false),
		pubsub.WithValidateQueueSize(1024),
		pubsub.WithPeerOutboundQueueSize(256),
	}
}

// topicScore makes invalid messages on a topic cost the sender.
func topicScore() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation:           true,
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second, // divisor even when the weight is 0
		InvalidMessageDeliveriesWeight: -20,
		InvalidMessageDeliveriesDecay:  0.9,
	}
}

// Join joins a gossipsub topic with a validator that enforces opts.MaxSize
// and opts.Validate before a message is delivered or forwarded.
func (h *Host) Join(name string, opts p2p.TopicOptions) (p2p.Topic, error) {
	if opts.MaxSize == 0 {
		opts.MaxSize = p2p.MaxGossipSize
	}
	if opts.MaxSize < 0 || opts.MaxSize > p2p.MaxGossipSize {
		return nil, fmt.Errorf("libp2p: topic %s max size %d out of range", name, opts.MaxSize)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, p2p.ErrClosed
	}
	if _, ok := h.topics[name]; ok {
		return nil, fmt.Errorf("%w: %s", p2p.ErrAlreadyJoined, name)
	}
	if err := h.ps.RegisterTopicValidator(name, h.validator(opts), pubsub.WithValidatorTimeout(5*time.Second)); err != nil {
		return nil, fmt.Errorf("libp2p: topic %s validator: %w", name, err)
	}
	pt, err := h.ps.Join(name)
	if err != nil {
		_ = h.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("libp2p: join %s: %w", name, err)
	}
	if err := pt.SetScoreParams(topicScore()); err != nil {
		h.log.Warn("topic scoring not set", "topic", name, "err", err)
	}
	sub, err := pt.Subscribe(pubsub.WithBufferSize(opts.Buffer))
	if err != nil {
		_ = pt.Close()
		_ = h.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("libp2p: subscribe %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	t := &topic{h: h, name: name, opts: opts, pt: pt, sub: sub, cancel: cancel, ch: make(chan p2p.Message, opts.Buffer)}
	h.topics[name] = t
	t.wg.Add(1)
	go t.readLoop(ctx)
	return t, nil
}

func (h *Host) validator(opts p2p.TopicOptions) pubsub.ValidatorEx {
	return func(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		local := from == h.host.ID()
		if !local && !h.isVerified(from) {
			return pubsub.ValidationIgnore // not handshaked yet
		}
		pid := p2p.PeerID(from.String())
		if len(msg.Data) > opts.MaxSize {
			if !local {
				h.Penalize(pid, p2p.PenaltyMalformed, fmt.Sprintf("gossip of %d bytes on %s", len(msg.Data), msg.GetTopic()))
			}
			return pubsub.ValidationReject
		}
		if opts.Validate == nil || local {
			return pubsub.ValidationAccept
		}
		err := opts.Validate(ctx, pid, msg.Data)
		switch {
		case err == nil:
			return pubsub.ValidationAccept
		case errors.Is(err, p2p.ErrIgnore):
			return pubsub.ValidationIgnore
		default:
			h.Penalize(pid, p2p.GossipPenalty(err), err.Error())
			return pubsub.ValidationReject
		}
	}
}

type topic struct {
	h       *Host
	name    string
	opts    p2p.TopicOptions
	pt      *pubsub.Topic
	sub     *pubsub.Subscription
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	dropped atomic.Uint64
	once    sync.Once
	ch      chan p2p.Message
}

func (t *topic) Publish(ctx context.Context, data []byte) error {
	if len(data) > t.opts.MaxSize {
		return fmt.Errorf("%w: %d bytes on %s, limit %d", p2p.ErrTooLarge, len(data), t.name, t.opts.MaxSize)
	}
	if err := t.pt.Publish(ctx, data); err != nil {
		if errors.Is(err, pubsub.ErrTopicClosed) {
			return p2p.ErrClosed
		}
		return fmt.Errorf("libp2p: publish on %s: %w", t.name, err)
	}
	return nil
}

func (t *topic) Messages() <-chan p2p.Message { return t.ch }
func (t *topic) Dropped() uint64              { return t.dropped.Load() }

func (t *topic) Close() error {
	t.once.Do(func() {
		t.cancel()
		t.sub.Cancel()
		t.wg.Wait()
		close(t.ch)
		_ = t.pt.Close()
		_ = t.h.ps.UnregisterTopicValidator(t.name)
		t.h.mu.Lock()
		delete(t.h.topics, t.name)
		t.h.mu.Unlock()
	})
	return nil
}

func (t *topic) readLoop(ctx context.Context) {
	defer t.wg.Done()
	self := t.h.host.ID()
	for {
		msg, err := t.sub.Next(ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == self {
			continue
		}
		origin := p2p.PeerID("")
		if id, err := peer.IDFromBytes(msg.From); err == nil {
			origin = p2p.PeerID(id.String())
		}
		m := p2p.Message{Topic: t.name, From: p2p.PeerID(msg.ReceivedFrom.String()), Origin: origin, Data: msg.Data}
		select {
		case t.ch <- m:
		default:
			if t.dropped.Add(1)&(t.dropped.Load()-1) == 0 { // log at powers of two
				t.h.log.Warn("gossip inbox full, dropping", "topic", t.name, "dropped", t.dropped.Load())
			}
		}
	}
}
