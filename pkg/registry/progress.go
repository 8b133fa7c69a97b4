// SPDX-License-Identifier: Apache-2.0

package registry

// progressStep is how many bytes pass between two progress events of a layer.
const progressStep = 1 << 20

// report delivers ev to the progress callback, one call at a time.
func (p *Puller) report(ev ProgressEvent) {
	if p.opts.progress == nil {
		return
	}
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	p.opts.progress(ev)
}

// progressWriter counts downloaded bytes and reports them every progressStep.
type progressWriter struct {
	p        *Puller
	ev       ProgressEvent
	reported int64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.ev.Done += int64(len(b))
	if w.ev.Done-w.reported >= progressStep {
		w.reported = w.ev.Done
		w.p.report(w.ev)
	}
	return len(b), nil
}

// complete reports the end of the download.
func (w *progressWriter) complete() {
	w.ev.Completed = true
	w.p.report(w.ev)
}
