// Package doccheck checks the repository's markdown: every relative link from one
// repository file to another resolves, and an anchor into a markdown file names
// one of its headings. Its test runs the check over the whole repository, so that a
// page moved or a heading renamed cannot leave a link behind.
//
// It owns link syntax and GitHub's heading anchors only; it does not fetch URLs
// (links with a scheme are left alone) or judge what a page says.
package doccheck
