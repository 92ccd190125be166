// Package fitting fits the prediction models (pkg/predict) on a profile
// namespace's customers and keeps the fitted parameters in Redis, one key
// per namespace, for every process that predicts: [Refit] fits and stores
// (segflow fit, and the profile-updater every [Refitter.Every]), [Current]
// holds the live namespace's model in memory and reloads it.
//
// Its invariant: a stored model is whole (both fits, their dates, customers
// and log-likelihoods, and its version, checked on load), and a process
// predicts with exactly one stored model at a time, whose version every
// prediction names.
package fitting
