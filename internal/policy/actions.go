package policy

import (
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/suggest"
)

// s3Actions are the actions of the S3 service ("s3:" prefix) as the
// Service Authorization Reference lists them. S3 and IAM refuse a policy
// naming any other s3: action ("Policy has invalid action"), so a typo such
// as s3:GetObjekt is caught when the policy is set rather than silently
// granting nothing. ListBucketByTags, no longer in the reference, stays:
// the IAM console's visual editor wrote it into many policies users keep.
var s3Actions = strings.Fields(`
AbortMultipartUpload AssociateAccessGrantsIdentityCenter BypassGovernanceRetention
CreateAccessGrant CreateAccessGrantsInstance CreateAccessGrantsLocation CreateAccessPoint
CreateAccessPointForObjectLambda CreateBucket CreateBucketMetadataConfiguration
CreateBucketMetadataTableConfiguration CreateJob CreateMultiRegionAccessPoint
CreateStorageLensGroup DeleteAccessGrant DeleteAccessGrantsInstance
DeleteAccessGrantsInstanceResourcePolicy DeleteAccessGrantsLocation DeleteAccessPoint
DeleteAccessPointForObjectLambda DeleteAccessPointPolicy DeleteAccessPointPolicyForObjectLambda
DeleteBucket DeleteBucketMetadataConfiguration DeleteBucketMetadataTableConfiguration
DeleteBucketOwnershipControls DeleteBucketPolicy DeleteBucketWebsite DeleteJobTagging
DeleteMultiRegionAccessPoint DeleteObject DeleteObjectTagging DeleteObjectVersion
DeleteObjectVersionTagging DeleteStorageLensConfiguration DeleteStorageLensConfigurationTagging
DeleteStorageLensGroup DescribeJob DescribeMultiRegionAccessPointOperation
DissociateAccessGrantsIdentityCenter GetAccelerateConfiguration GetAccessGrant
GetAccessGrantsInstance GetAccessGrantsInstanceForPrefix GetAccessGrantsInstanceResourcePolicy
GetAccessGrantsLocation GetAccessPoint GetAccessPointConfigurationForObjectLambda
GetAccessPointForObjectLambda GetAccessPointPolicy GetAccessPointPolicyForObjectLambda
GetAccessPointPolicyStatus GetAccessPointPolicyStatusForObjectLambda GetAccountPublicAccessBlock
GetAnalyticsConfiguration GetBucketAbac GetBucketAcl GetBucketCORS GetBucketLocation
GetBucketLogging GetBucketMetadataConfiguration GetBucketMetadataTableConfiguration
GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls
GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment
GetBucketTagging GetBucketVersioning GetBucketWebsite GetDataAccess GetEncryptionConfiguration
GetIntelligentTieringConfiguration GetInventoryConfiguration GetJobTagging
GetLifecycleConfiguration GetMetricsConfiguration GetMultiRegionAccessPoint
GetMultiRegionAccessPointPolicy GetMultiRegionAccessPointPolicyStatus
GetMultiRegionAccessPointRoutes GetObject GetObjectAcl GetObjectAttributes GetObjectLegalHold
GetObjectRetention GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl
GetObjectVersionAttributes GetObjectVersionForReplication GetObjectVersionTagging
GetObjectVersionTorrent GetReplicationConfiguration GetStorageLensConfiguration
GetStorageLensConfigurationTagging GetStorageLensDashboard GetStorageLensGroup
InitiateReplication ListAccessGrants ListAccessGrantsInstances ListAccessGrantsLocations
ListAccessPoints ListAccessPointsForObjectLambda ListAllMyBuckets ListBucket ListBucketByTags
ListBucketMultipartUploads ListBucketVersions ListCallerAccessGrants ListJobs
ListMultiRegionAccessPoints ListMultipartUploadParts ListStorageLensConfigurations
ListStorageLensGroups ListTagsForResource ObjectOwnerOverrideToBucketOwner PauseReplication
PutAccelerateConfiguration PutAccessGrantsInstanceResourcePolicy
PutAccessPointConfigurationForObjectLambda PutAccessPointPolicy
PutAccessPointPolicyForObjectLambda PutAccessPointPublicAccessBlock PutAccountPublicAccessBlock
PutAnalyticsConfiguration PutBucketAbac PutBucketAcl PutBucketCORS PutBucketLogging
PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls
PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging
PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration
PutIntelligentTieringConfiguration PutInventoryConfiguration PutJobTagging
PutLifecycleConfiguration PutMetricsConfiguration PutMultiRegionAccessPointPolicy PutObject
PutObjectAcl PutObjectLegalHold PutObjectRetention PutObjectTagging PutObjectVersionAcl
PutObjectVersionTagging PutReplicationConfiguration PutStorageLensConfiguration
PutStorageLensConfigurationTagging ReplicateDelete ReplicateObject ReplicateTags RestoreObject
SubmitMultiRegionAccessPointRoutes TagResource UntagResource UpdateAccessGrantsLocation
UpdateBucketMetadataInventoryTableConfiguration UpdateBucketMetadataJournalTableConfiguration
UpdateJobPriority UpdateJobStatus UpdateStorageLensGroup
`)

// nixbucketActions are nixbucket's own actions ("nixbucket:" prefix), for
// what S3 has no action for. They take the resource arn:aws:s3:::BUCKET.
// "nixbucket:*" and "*" grant them; "s3:*" does not (another service).
//
//   - Pin: create, move or remove a pin (PUT or DELETE
//     /-/api/buckets/BUCKET/pins/NAME, `nixbucket pin`).
//   - GetMetrics: scrape /-/metrics from another machine (loopback
//     callers need nothing); its resource is arn:aws:s3:::* (the metrics
//     cover every bucket).
var nixbucketActions = strings.Fields(`GetMetrics Pin`)

// ActionPin is the action of pin writes.
const ActionPin = "nixbucket:Pin"

// ActionGetMetrics is the action of scraping the metrics.
const ActionGetMetrics = "nixbucket:GetMetrics"

// CheckActions returns an *Error naming the first s3: or nixbucket: action
// of p that is no such action, or a wildcard one that matches none, as S3
// and IAM refuse them. Actions of other services (identity policies may
// name them; they never match a request here) and service wildcards such
// as "*" or "s3*:..." are left alone. Setting a policy calls this; loading
// a stored one does not, so a policy stored before a name was known keeps
// working.
func (p *Policy) CheckActions() error {
	for i := range p.stmts {
		s := &p.stmts[i]
		field := "Action"
		if s.notAction {
			field = "NotAction"
		}
		for j := range s.actions {
			raw := s.actions[j].raw
			svc, name, ok := strings.Cut(raw, ":")
			var known []string
			switch {
			case ok && strings.EqualFold(svc, "s3"):
				known = s3Actions
			case ok && strings.EqualFold(svc, "nixbucket"):
				known = nixbucketActions
			default:
				continue
			}
			if reason := checkAction(&s.actions[j], strings.ToLower(svc), name, known); reason != "" {
				return &Error{Statement: i + 1, Sid: s.sid, Field: field, Reason: fmt.Sprintf("invalid action %q: %s", raw, reason)}
			}
		}
	}
	return nil
}

// checkAction returns why the action named svc:name (pattern p) is not
// one of the service's known actions, or "".
func checkAction(p *pattern, svc, name string, known []string) string {
	what := "S3"
	if svc != "s3" {
		what = svc
	}
	if !strings.ContainsAny(name, "*?") {
		for _, a := range known {
			if strings.EqualFold(a, name) {
				return ""
			}
		}
		msg := "there is no such " + what + " action"
		if near := suggest.Nearest(name, known); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", svc+":"+near)
		}
		return msg
	}
	for _, a := range known {
		if p.match(svc+":"+a, nil, true) {
			return ""
		}
	}
	return "the wildcard matches no " + what + " action"
}
