// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http/httptrace"
	"sync"
	"time"
)

// Timeout defaults, after enroot's curl options.
const (
	defaultConnectTimeout = 30 * time.Second
	defaultStallTimeout   = 60 * time.Second
	// metadataDeadline bounds one attempt at a manifest, a config or a
	// digest (with its ping and token exchange) when no transfer timeout is
	// set: they are small, so a registry that trickles them is stuck.
	metadataDeadline = 5 * time.Minute
)

// TimeoutError is a registry request that ran out of time: no connection
// within the connect timeout, no data for the stall timeout, or not done
// within the transfer timeout. It matches ErrTimeout with errors.Is.
type TimeoutError struct {
	What     string // what was pulled: "layer sha256:...", "manifest of REPO:TAG"
	Registry string // host[:port]
	Reason   string // what ran out, e.g. "no data for 60s (registry stalled)"
	Hint     string // what the user can do
	Attempts int    // how many attempts ran out, when retried
}

func (e *TimeoutError) Error() string {
	s := "pulling " + e.What + " from " + e.Registry + ": " + e.Reason
	if e.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts", e.Attempts)
	}
	return s + "; " + e.Hint
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// transfer watches one attempt at a request. Its ctx ends, with a
// *TimeoutError as the cause, when connecting takes longer than the
// connect timeout, nothing arrives for the stall timeout, or the attempt
// passes its deadline.
type transfer struct {
	ctx    context.Context
	parent context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc // the deadline's

	stallAfter time.Duration
	stall      *time.Timer

	mu      sync.Mutex
	connect *time.Timer // running while a connection is being made
	timeout connectTimeout
}

type connectTimeout struct {
	after time.Duration
	fail  func()
}

// startTransfer watches one attempt at what (for messages) on ref's
// registry. deadline 0 means none.
func (p *Puller) startTransfer(parent context.Context, what string, ref Reference, deadline time.Duration) *transfer {
	o := p.opts
	t := &transfer{parent: parent, stallAfter: o.stallTimeout, stop: func() {}}
	newErr := func(reason, hint string) *TimeoutError {
		return &TimeoutError{What: what, Registry: ref.Registry, Reason: reason, Hint: hint}
	}
	base, cancel := context.WithCancelCause(parent)
	t.cancel = cancel
	ctx := base
	if deadline > 0 {
		ctx, t.stop = context.WithTimeoutCause(base, deadline, newErr("not done after "+seconds(deadline),
			"raise ENROOT_TRANSFER_TIMEOUT (0: no limit) for a slow link, or retry later"))
	}
	t.stall = time.AfterFunc(t.stallAfter, func() {
		cancel(newErr("no data for "+seconds(t.stallAfter)+" (registry stalled)",
			"retry later, or raise GPYXIS_STALL_TIMEOUT for a slow link"))
	})
	if o.connectTimeout > 0 {
		t.timeout = connectTimeout{after: o.connectTimeout, fail: func() {
			cancel(newErr("no connection after "+seconds(o.connectTimeout),
				"check the registry address and that it is up, or raise ENROOT_CONNECT_TIMEOUT"))
		}}
	}
	t.ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { t.connecting(true) },
		GotConn: func(httptrace.GotConnInfo) { t.connecting(false); t.alive() },
		ConnectDone: func(_, _ string, err error) {
			if err != nil {
				t.connecting(false)
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				t.connecting(false)
			}
		},
		GotFirstResponseByte: t.alive,
	})
	return t
}

// connecting starts or stops the connect timer (dialing and the TLS
// handshake, as curl's --connect-timeout).
func (t *transfer) connecting(start bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.connect != nil {
		t.connect.Stop()
		t.connect = nil
	}
	if start && t.timeout.after > 0 {
		t.connect = time.AfterFunc(t.timeout.after, t.timeout.fail)
	}
}

// alive restarts the stall timer: data arrived.
func (t *transfer) alive() { t.stall.Reset(t.stallAfter) }

// body makes every read of rc that brings data count as progress.
func (t *transfer) body(rc io.ReadCloser) io.ReadCloser { return &aliveReader{rc, t} }

// done ends the attempt. It returns err, or the *TimeoutError that ended
// the attempt when one did (whatever containers/image made of the
// cancelled request).
func (t *transfer) done(err error) error {
	t.stall.Stop()
	t.connecting(false)
	if err != nil && t.parent.Err() == nil && t.ctx.Err() != nil {
		var te *TimeoutError
		if errors.As(context.Cause(t.ctx), &te) {
			err = te
		}
	}
	t.stop()
	t.cancel(nil)
	return err
}

// retryTransfer runs fn under p.retry, each attempt watched by a transfer
// (see startTransfer); fn must do all its reading through t.ctx and
// t.body before it returns.
func (p *Puller) retryTransfer(ctx context.Context, what string, ref Reference, deadline time.Duration, fn func(t *transfer) error) error {
	return p.retry(ctx, what, func() error {
		t := p.startTransfer(ctx, what, ref, deadline)
		return t.done(fn(t))
	})
}

// metadataDeadline is the deadline of one attempt at a manifest, config
// or digest: the transfer timeout if set, else metadataDeadline.
func (p *Puller) metadataDeadline() time.Duration {
	if p.opts.transferTimeout > 0 {
		return p.opts.transferTimeout
	}
	return metadataDeadline
}

type aliveReader struct {
	rc io.ReadCloser
	t  *transfer
}

func (r *aliveReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if n > 0 {
		r.t.alive()
	}
	return n, err
}

func (r *aliveReader) Close() error { return r.rc.Close() }

// imageName is ref's repository with its tag or digest, for messages that
// name the registry apart.
func imageName(ref Reference) string {
	if ref.Digest != "" {
		return ref.Repository + "@" + ref.Digest
	}
	return ref.Repository + ":" + ref.Tag
}

// seconds formats d as enroot's settings are written: "60s", "1.5s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%gs", d.Seconds())
}
