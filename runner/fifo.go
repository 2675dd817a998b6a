package runner

// fifo is a growable ring buffer queue. It allocates only while it holds
// items and gives its buffer back once it is empty again, so an idle actor
// keeps no queue memory however large its limits are. Not safe for
// concurrent use: the owner locks.
type fifo[T any] struct {
	buf  []T
	head int
	n    int
}

func (f *fifo[T]) len() int { return f.n }

func (f *fifo[T]) push(v T) {
	if f.n == len(f.buf) {
		nb := make([]T, max(4, 2*len(f.buf)))
		m := copy(nb, f.buf[f.head:])
		copy(nb[m:], f.buf[:f.head])
		f.buf, f.head = nb, 0
	}
	f.buf[(f.head+f.n)%len(f.buf)] = v
	f.n++
}

// pop removes and returns the oldest item; the fifo must not be empty.
func (f *fifo[T]) pop() T {
	v := f.buf[f.head]
	var zero T
	f.buf[f.head] = zero
	f.head = (f.head + 1) % len(f.buf)
	f.n--
	if f.n == 0 {
		// Empty: the buffer goes (an idle actor keeps none; a busy one
		// makes a small one again on its next push).
		f.head, f.buf = 0, nil
	}
	return v
}
