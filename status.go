package failover

// startStatus starts serving the status of f's blocks at their status addresses.
func (f *Failover) startStatus() error { return nil }

// stopStatus stops serving f's status.
func (f *Failover) stopStatus() {}
