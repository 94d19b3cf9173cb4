package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestBatchesGatherWaitingItemsAndAnswerEachCaller(t *testing.T) {
	b := New[int](10, func(v int) bool { return v < 0 })
	var mu sync.Mutex
	var sizes []int
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx, func(_ context.Context, vs []int) error {
		<-release
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(vs))
		for _, v := range vs {
			if v == 13 {
				return errors.New("thirteen")
			}
			if v < 0 && len(vs) != 1 {
				t.Errorf("an item marked alone shared a batch: %v", vs)
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v := i
			if i%10 == 5 {
				v = -i
			}
			errs[i] = b.Submit(context.Background(), v)
		}(i)
	}
	close(release)
	wg.Wait()
	total := 0
	for _, n := range sizes {
		if n > 10 {
			t.Fatalf("a batch of %d", n)
		}
		total += n
	}
	if total != 40 || errs[13] == nil {
		t.Fatalf("flushed %d items; 13's error %v", total, errs[13])
	}
}
