package output

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Progress draws a one-line progress bar, "[=====>    ] 12/50", redrawn in
// place with a carriage return. Use it only when w is a terminal. It is
// safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	n     int
	done  int
	width int
	drawn int // columns of the last line drawn, for clearing
}

// NewProgress returns a Progress for n steps on a terminal width columns
// wide (0 means 80) and draws it at 0/n.
func NewProgress(w io.Writer, n int, width int) *Progress {
	if width <= 0 {
		width = 80
	}
	p := &Progress{w: w, n: n, width: width}
	p.mu.Lock()
	p.draw()
	p.mu.Unlock()
	return p
}

// Step records one finished step and redraws the line.
func (p *Progress) Step() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n <= 0 || p.done < p.n {
		p.done++
	}
	p.draw()
}

// Done clears the line, leaving the cursor at its start.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn > 0 {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.drawn)+"\r")
		p.drawn = 0
	}
}

// line renders the current state without the carriage return.
func (p *Progress) line() string {
	count := strconv.Itoa(p.done)
	if p.n > 0 {
		count += "/" + strconv.Itoa(p.n)
	}
	// Size the bar for the widest count so it does not shift as digits grow.
	widest := len(strconv.Itoa(p.n))*2 + 1
	bw := min(40, p.width-widest-4)
	if p.n <= 0 || bw < 3 {
		return count
	}
	fill := p.done * bw / p.n
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case fill >= bw:
		b.WriteString(strings.Repeat("=", bw))
	case fill > 0:
		b.WriteString(strings.Repeat("=", fill-1) + ">" + strings.Repeat(" ", bw-fill))
	default:
		b.WriteString(strings.Repeat(" ", bw))
	}
	b.WriteString("] ")
	b.WriteString(count)
	return b.String()
}

func (p *Progress) draw() {
	l := p.line()
	fmt.Fprint(p.w, "\r"+l)
	p.drawn = max(p.drawn, len(l))
}
