// Package batch is the one way an app turns many concurrent requests into
// few store transactions: callers Submit items and wait; one goroutine
// (Run) takes an item, gathers what else is waiting, hands the batch to
// the flush function, and answers every caller with its result. A caller is
// answered only after its batch's flush returned, so an event handler that
// submits acknowledges its event after the commit.
package batch

import "context"

// Batcher gathers items of type T.
type Batcher[T any] struct {
	max   int
	alone func(T) bool
	items chan item[T]
}

type item[T any] struct {
	v    T
	done chan error
}

// New makes a batcher of at most max items a batch. alone, when set, marks
// items that must be flushed by themselves (a batch ends before one).
func New[T any](max int, alone func(T) bool) *Batcher[T] {
	if max < 1 {
		max = 1
	}
	return &Batcher[T]{max: max, alone: alone, items: make(chan item[T], 8192)}
}

// Submit hands v to the batcher and waits for its batch's result.
func (b *Batcher[T]) Submit(ctx context.Context, v T) error {
	it := item[T]{v: v, done: make(chan error, 1)}
	select {
	case b.items <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run flushes batches until ctx ends. flush gets the batch's items in the
// order they came; its error is every caller's.
func (b *Batcher[T]) Run(ctx context.Context, flush func(ctx context.Context, batch []T) error) {
	var next *item[T]
	for {
		var first item[T]
		if next != nil {
			first, next = *next, nil
		} else {
			select {
			case <-ctx.Done():
				return
			case first = <-b.items:
			}
		}
		batch := []item[T]{first}
		if b.alone == nil || !b.alone(first.v) {
		fill:
			for len(batch) < b.max {
				select {
				case it := <-b.items:
					if b.alone != nil && b.alone(it.v) {
						next = &it
						break fill
					}
					batch = append(batch, it)
				default:
					break fill
				}
			}
		}
		vs := make([]T, len(batch))
		for i, it := range batch {
			vs[i] = it.v
		}
		err := flush(ctx, vs)
		for _, it := range batch {
			it.done <- err
		}
	}
}
