package listener

// ResetHandlers removes every registered handler, so that each test can
// register its own.
func ResetHandlers() {
	eventHandler = nil
	initHandler = nil
	shutdownHandler = nil
}
