package store

import "sync"

// jobChunk is the number of jobKeys in a chunk of a jobList (64 KiB).
const jobChunk = 4096

// jobChunks holds the chunks of jobLists no longer used: a listing of a
// million records takes 16 MB of them twice, which fresh memory costs
// more to fault in and clear than its reading of the records.
var jobChunks = sync.Pool{New: func() any { return new([jobChunk]jobKey) }}

// jobList is a list of jobKeys in chunks taken from jobChunks, so that it
// grows without copying. Its chunks are full but for the last; lists are
// joined by joining their chunks (see jobLists), read in order with a
// jobCursor.
type jobList struct {
	chunks []*[jobChunk]jobKey
	n      int
}

// add appends j.
func (l *jobList) add(j jobKey) {
	i := l.n % jobChunk
	if i == 0 {
		l.chunks = append(l.chunks, jobChunks.Get().(*[jobChunk]jobKey))
	}
	l.chunks[len(l.chunks)-1][i] = j
	l.n++
}

// jobLists is lists joined one after the other: each chunk with how many
// of its keys it holds.
type jobLists struct {
	chunks []*[jobChunk]jobKey
	lens   []int
	n      int
}

// join joins ls.
func join(ls []jobList) jobLists {
	var all jobLists
	for _, l := range ls {
		for c, chunk := range l.chunks {
			all.chunks = append(all.chunks, chunk)
			all.lens = append(all.lens, min(jobChunk, l.n-c*jobChunk))
		}
		all.n += l.n
	}
	return all
}

// release gives the chunks back to jobChunks; the lists are then empty.
func (ls *jobLists) release() {
	for _, c := range ls.chunks {
		jobChunks.Put(c)
	}
	*ls = jobLists{}
}

// leastAfter is a list of the same length as ls whose key at i is the
// least of ls's keys from i on.
func (ls *jobLists) leastAfter() jobLists {
	least := jobLists{chunks: make([]*[jobChunk]jobKey, len(ls.chunks)), lens: ls.lens, n: ls.n}
	m := noJob
	for c := len(ls.chunks) - 1; c >= 0; c-- {
		from, to := ls.chunks[c], jobChunks.Get().(*[jobChunk]jobKey)
		for i := ls.lens[c] - 1; i >= 0; i-- {
			m = minJob(from[i], m)
			to[i] = m
		}
		least.chunks[c] = to
	}
	return least
}

// jobCursor reads jobLists in order.
type jobCursor struct {
	ls   *jobLists
	c, i int // the next key: chunks[c][i]
}

// next returns the next key, or noJob after the last.
func (r *jobCursor) next() jobKey {
	for r.c < len(r.ls.chunks) && r.i >= r.ls.lens[r.c] {
		r.c, r.i = r.c+1, 0
	}
	if r.c == len(r.ls.chunks) {
		return noJob
	}
	j := r.ls.chunks[r.c][r.i]
	r.i++
	return j
}

// keptAtOnce is the most records that EncodedRecordsOrdered keeps at once
// for records of the jobs in store order, as its second read keeps them
// (least is jobs.leastAfter()), or a number over hold once it passes
// hold. After record p, it has given every record whose job comes before
// the least job of those after p. Records of noJob, left out, are never
// kept.
func keptAtOnce(jobs, least *jobLists, hold int) int {
	var kept jobHeap
	most := 0
	js, ls := jobCursor{ls: jobs}, jobCursor{ls: least}
	ls.next()
	for range jobs.n {
		j, next := js.next(), ls.next()
		if j == noJob {
			continue
		}
		if len(kept) == 0 && j.less(next) {
			continue
		}
		kept.push(j)
		for len(kept) > 0 && kept[0].less(next) {
			kept.pop()
		}
		if most = max(most, len(kept)); most > hold {
			break
		}
	}
	return most
}

// jobHeap is a min-heap of jobKeys.
type jobHeap []jobKey

func (h *jobHeap) push(j jobKey) {
	*h = append(*h, j)
	s := *h
	for i := len(s) - 1; i > 0; {
		up := (i - 1) / 2
		if !s[i].less(s[up]) {
			break
		}
		s[i], s[up] = s[up], s[i]
		i = up
	}
}

func (h *jobHeap) pop() {
	s := *h
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < last && s[l].less(s[least]) {
			least = l
		}
		if r < last && s[r].less(s[least]) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
}
