package provider

// PendingHold is pendingHold, for the external tests.
const PendingHold = pendingHold
