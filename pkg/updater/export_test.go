package updater

// RescoreLeaseKey is rescoreLeaseKey, for tests that play a dead updater.
var RescoreLeaseKey = rescoreLeaseKey
