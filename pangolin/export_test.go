package pangolin

// Crash drops s as kill -9 would: the background loop stops and the journal
// is closed, but nothing more is saved.
func (s *Server) Crash() {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.store != nil {
		_ = s.store.close()
	}
}

// SetJournalLimit changes the journal size that triggers a compaction, and
// returns a function restoring it.
func SetJournalLimit(n int64) (restore func()) {
	old := journalLimit
	journalLimit = n
	return func() { journalLimit = old }
}
