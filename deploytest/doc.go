// Package deploytest tests deploy.sh, the script that deploys the
// integration to Google Cloud, against a fake gcloud CLI that records every
// call. The package holds tests only; it never contacts Google Cloud.
package deploytest
