// Package pull owns fetching from OSTree remotes: the [remote "NAME"]
// groups of a repository's config, the HTTP fetcher (retries, Range resume
// of partial downloads kept in a locked repo.FetcherDir), and the pull
// algorithm that walks a commit's objects, fetches the missing ones in
// parallel and writes them through a repo.Transaction, so nothing is
// published unverified and many pulls can run into one repository at once.
package pull
