package local

// Awake returns the number of awake actors (live instances) in the engine.
func (e *Engine) Awake() int { return e.rt.Awake() }
