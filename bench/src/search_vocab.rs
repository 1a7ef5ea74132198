//! The fixed vocabulary the search benchmark's synthetic audit log is drawn from: actions with the
//! resources and parameters they take and who performs them, names, user agents and pools of
//! resource names. Pure data; `search_data` turns it into a seeded world.

/// Who performs an action: an actor performs the actions that share a bit with its groups.
pub mod group {
    pub const DEV: u16 = 1;
    pub const OPS: u16 = 1 << 1;
    pub const SEC: u16 = 1 << 2;
    pub const ADMIN: u16 = 1 << 3;
    pub const DATA: u16 = 1 << 4;
    pub const CI: u16 = 1 << 5;
    pub const BACKUP: u16 = 1 << 6;
    pub const MONITOR: u16 = 1 << 7;
    pub const IAC: u16 = 1 << 8;
    pub const APP: u16 = 1 << 9;
    /// Every kind of person.
    pub const PEOPLE: u16 = DEV | OPS | SEC | ADMIN | DATA;
}

use group::*;

/// How often an action happens relative to others, and how severe it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reads and lookups: most of any audit log.
    Read,
    /// Routine writes: pushes, logins, uploads.
    Common,
    /// Configuration changes.
    Change,
    /// Rare and security-relevant: deletions, disabling logging or MFA.
    Sensitive,
}

impl Class {
    /// Relative frequency.
    pub fn weight(self) -> f64 {
        match self {
            Self::Read => 10.0,
            Self::Common => 4.0,
            Self::Change => 1.0,
            Self::Sensitive => 0.15,
        }
    }

    pub fn severity(self) -> &'static str {
        match self {
            Self::Read | Self::Common => "info",
            Self::Change => "low",
            Self::Sensitive => "high",
        }
    }
}

/// What an action is performed on; each pool is a list of resource names of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Bucket,
    IamUser,
    IamRole,
    Policy,
    Instance,
    SecurityGroup,
    Snapshot,
    KeyPair,
    Trail,
    KmsKey,
    Secret,
    Function,
    Database,
    LogGroup,
    Detector,
    ConfigRule,
    Account,
    Parameter,
    Cluster,
    Zone,
    Repo,
    Member,
    Org,
    Team,
    Token,
    Pipeline,
    Service,
    Webhook,
}

impl Pool {
    pub const ALL: [Pool; 28] = [
        Self::Bucket,
        Self::IamUser,
        Self::IamRole,
        Self::Policy,
        Self::Instance,
        Self::SecurityGroup,
        Self::Snapshot,
        Self::KeyPair,
        Self::Trail,
        Self::KmsKey,
        Self::Secret,
        Self::Function,
        Self::Database,
        Self::LogGroup,
        Self::Detector,
        Self::ConfigRule,
        Self::Account,
        Self::Parameter,
        Self::Cluster,
        Self::Zone,
        Self::Repo,
        Self::Member,
        Self::Org,
        Self::Team,
        Self::Token,
        Self::Pipeline,
        Self::Service,
        Self::Webhook,
    ];

    /// `resource.type` of the pool's resources.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Bucket => "bucket",
            Self::IamUser => "iam_user",
            Self::IamRole => "iam_role",
            Self::Policy => "policy",
            Self::Instance => "instance",
            Self::SecurityGroup => "security_group",
            Self::Snapshot => "snapshot",
            Self::KeyPair => "key_pair",
            Self::Trail => "trail",
            Self::KmsKey => "kms_key",
            Self::Secret => "secret",
            Self::Function => "function",
            Self::Database => "db_instance",
            Self::LogGroup => "log_group",
            Self::Detector => "detector",
            Self::ConfigRule => "config_rule",
            Self::Account => "account",
            Self::Parameter => "parameter",
            Self::Cluster => "cluster",
            Self::Zone => "hosted_zone",
            Self::Repo => "repository",
            Self::Member => "member",
            Self::Org => "organization",
            Self::Team => "team",
            Self::Token => "api_token",
            Self::Pipeline => "pipeline",
            Self::Service => "service",
            Self::Webhook => "webhook",
        }
    }
}

/// The parameters an action records besides its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    None,
    /// `{key: resource name}` (CloudTrail request parameters).
    Name(&'static str),
    /// Bucket and object key.
    Object,
    /// Instance type of a launch.
    Launch,
    /// Port and range opened or closed in a security group.
    Ingress,
    /// Canned ACL of a bucket.
    Acl,
    /// Waiting period of a key deletion.
    KeyDeletion,
    /// A managed policy attached to the user or role named by the key.
    AttachPolicy(&'static str),
    /// Role ARN and session name.
    AssumeRole,
    /// Log retention in days.
    Retention,
    /// `withDecryption` of a parameter read.
    Decryption,
    /// The console sign-in record (MFA used, result).
    ConsoleLogin,
    /// Sign-in method and MFA of a web login.
    Login,
    /// Branch and force flag of a push.
    Push,
    /// A branch name.
    Branch,
    /// Repository visibility.
    Visibility,
    /// Scopes and lifetime of an API token.
    TokenScopes,
    /// What triggered a pipeline.
    Trigger,
    /// A role in the organisation or team.
    Role,
    /// The target environment.
    Environment,
}

/// One action of the vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct ActionDef {
    /// CloudTrail event source (`s3.amazonaws.com`), or `None` for dotted application actions.
    pub source: Option<&'static str>,
    /// CloudTrail event name, or the dotted action itself.
    pub name: &'static str,
    pub pool: Option<Pool>,
    pub params: Params,
    pub groups: u16,
    pub class: Class,
}

const fn aws(
    source: &'static str,
    name: &'static str,
    pool: Option<Pool>,
    params: Params,
    groups: u16,
    class: Class,
) -> ActionDef {
    ActionDef { source: Some(source), name, pool, params, groups, class }
}

const fn app(name: &'static str, pool: Option<Pool>, params: Params, groups: u16, class: Class) -> ActionDef {
    ActionDef { source: None, name, pool, params, groups, class }
}

const S3: &str = "s3.amazonaws.com";
const IAM: &str = "iam.amazonaws.com";
const STS: &str = "sts.amazonaws.com";
const SIGNIN: &str = "signin.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const TRAIL: &str = "cloudtrail.amazonaws.com";
const KMS: &str = "kms.amazonaws.com";
const SECRETS: &str = "secretsmanager.amazonaws.com";
const LAMBDA: &str = "lambda.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const LOGS: &str = "logs.amazonaws.com";
const GUARDDUTY: &str = "guardduty.amazonaws.com";
const CONFIG: &str = "config.amazonaws.com";
const ORGS: &str = "organizations.amazonaws.com";
const SSM: &str = "ssm.amazonaws.com";
const EKS: &str = "eks.amazonaws.com";
const ROUTE53: &str = "route53.amazonaws.com";
const ECR: &str = "ecr.amazonaws.com";

use Class::{Change, Common, Read, Sensitive};
use Params as P;
use Pool as R;

/// The actions: CloudTrail-style (`s3.amazonaws.com:GetObject`) and dotted application actions (`repo.delete`).
#[rustfmt::skip]
pub const ACTIONS: &[ActionDef] = &[
    aws(S3, "GetObject", Some(R::Bucket), P::Object, DEV | DATA | APP | OPS | BACKUP, Read),
    aws(S3, "PutObject", Some(R::Bucket), P::Object, DATA | APP | CI | BACKUP, Common),
    aws(S3, "DeleteObject", Some(R::Bucket), P::Object, DATA | APP | OPS, Change),
    aws(S3, "ListBuckets", None, P::None, DEV | OPS | SEC | MONITOR | DATA, Read),
    aws(S3, "ListObjects", Some(R::Bucket), P::Name("bucketName"), DEV | DATA | OPS | APP | MONITOR, Read),
    aws(S3, "CreateBucket", Some(R::Bucket), P::Name("bucketName"), OPS | IAC, Change),
    aws(S3, "DeleteBucket", Some(R::Bucket), P::Name("bucketName"), OPS | IAC, Sensitive),
    aws(S3, "PutBucketPolicy", Some(R::Bucket), P::Name("bucketName"), OPS | IAC | SEC, Change),
    aws(S3, "DeleteBucketPolicy", Some(R::Bucket), P::Name("bucketName"), SEC | OPS, Sensitive),
    aws(S3, "PutBucketAcl", Some(R::Bucket), P::Acl, OPS | DATA, Change),
    aws(S3, "PutBucketPublicAccessBlock", Some(R::Bucket), P::Name("bucketName"), SEC | IAC, Change),
    aws(S3, "GetBucketPolicy", Some(R::Bucket), P::Name("bucketName"), SEC | MONITOR, Read),
    aws(S3, "PutBucketEncryption", Some(R::Bucket), P::Name("bucketName"), IAC | SEC, Change),
    aws(S3, "PutBucketVersioning", Some(R::Bucket), P::Name("bucketName"), IAC | OPS, Change),
    aws(IAM, "CreateUser", Some(R::IamUser), P::Name("userName"), ADMIN | IAC, Change),
    aws(IAM, "DeleteUser", Some(R::IamUser), P::Name("userName"), ADMIN, Sensitive),
    aws(IAM, "CreateAccessKey", Some(R::IamUser), P::Name("userName"), ADMIN | DEV | IAC, Change),
    aws(IAM, "DeleteAccessKey", Some(R::IamUser), P::Name("userName"), ADMIN | SEC, Change),
    aws(IAM, "UpdateAccessKey", Some(R::IamUser), P::Name("userName"), SEC | ADMIN, Change),
    aws(IAM, "AttachUserPolicy", Some(R::IamUser), P::AttachPolicy("userName"), ADMIN | IAC, Change),
    aws(IAM, "DetachUserPolicy", Some(R::IamUser), P::AttachPolicy("userName"), ADMIN | SEC, Change),
    aws(IAM, "AttachRolePolicy", Some(R::IamRole), P::AttachPolicy("roleName"), IAC | ADMIN, Change),
    aws(IAM, "PutRolePolicy", Some(R::IamRole), P::Name("roleName"), IAC, Change),
    aws(IAM, "CreateRole", Some(R::IamRole), P::Name("roleName"), IAC | ADMIN, Change),
    aws(IAM, "DeleteRole", Some(R::IamRole), P::Name("roleName"), IAC, Sensitive),
    aws(IAM, "CreateLoginProfile", Some(R::IamUser), P::Name("userName"), ADMIN, Sensitive),
    aws(IAM, "UpdateLoginProfile", Some(R::IamUser), P::Name("userName"), ADMIN, Change),
    aws(IAM, "DeactivateMFADevice", Some(R::IamUser), P::Name("userName"), SEC | ADMIN, Sensitive),
    aws(IAM, "ListUsers", None, P::None, SEC | ADMIN | MONITOR, Read),
    aws(IAM, "GetUser", Some(R::IamUser), P::Name("userName"), ADMIN | SEC | MONITOR, Read),
    aws(IAM, "ListAccessKeys", Some(R::IamUser), P::Name("userName"), SEC | MONITOR, Read),
    aws(IAM, "AddUserToGroup", Some(R::IamUser), P::Name("userName"), ADMIN, Change),
    aws(IAM, "CreatePolicyVersion", Some(R::Policy), P::Name("policyName"), IAC, Sensitive),
    aws(IAM, "ListRoles", None, P::None, IAC | MONITOR | SEC, Read),
    aws(STS, "AssumeRole", Some(R::IamRole), P::AssumeRole, APP | CI | IAC | OPS | DEV | BACKUP | MONITOR, Read),
    aws(STS, "GetCallerIdentity", None, P::None, DEV | OPS | CI | IAC, Read),
    aws(STS, "GetSessionToken", None, P::None, DEV | OPS, Common),
    aws(SIGNIN, "ConsoleLogin", None, P::ConsoleLogin, PEOPLE, Common),
    aws(SIGNIN, "SwitchRole", Some(R::IamRole), P::None, OPS | ADMIN | SEC, Common),
    aws(EC2, "RunInstances", Some(R::Instance), P::Launch, OPS | IAC | CI, Change),
    aws(EC2, "TerminateInstances", Some(R::Instance), P::Name("instanceId"), OPS | IAC, Change),
    aws(EC2, "StartInstances", Some(R::Instance), P::Name("instanceId"), OPS, Common),
    aws(EC2, "StopInstances", Some(R::Instance), P::Name("instanceId"), OPS, Common),
    aws(EC2, "DescribeInstances", None, P::None, OPS | MONITOR | IAC | DEV, Read),
    aws(EC2, "AuthorizeSecurityGroupIngress", Some(R::SecurityGroup), P::Ingress, OPS | IAC, Change),
    aws(EC2, "RevokeSecurityGroupIngress", Some(R::SecurityGroup), P::Ingress, OPS | SEC | IAC, Change),
    aws(EC2, "CreateSecurityGroup", Some(R::SecurityGroup), P::Name("groupName"), IAC, Change),
    aws(EC2, "DeleteSecurityGroup", Some(R::SecurityGroup), P::Name("groupId"), IAC | OPS, Sensitive),
    aws(EC2, "CreateSnapshot", Some(R::Instance), P::Name("instanceId"), BACKUP | OPS, Common),
    aws(EC2, "ModifySnapshotAttribute", Some(R::Snapshot), P::Name("snapshotId"), OPS | DATA, Sensitive),
    aws(EC2, "CreateKeyPair", Some(R::KeyPair), P::Name("keyName"), OPS | DEV, Change),
    aws(EC2, "DeleteKeyPair", Some(R::KeyPair), P::Name("keyName"), OPS, Change),
    aws(EC2, "DescribeSecurityGroups", None, P::None, SEC | MONITOR | IAC, Read),
    aws(EC2, "ModifyInstanceAttribute", Some(R::Instance), P::Name("instanceId"), OPS | IAC, Change),
    aws(EC2, "GetPasswordData", Some(R::Instance), P::Name("instanceId"), OPS, Sensitive),
    aws(TRAIL, "StopLogging", Some(R::Trail), P::Name("name"), SEC, Sensitive),
    aws(TRAIL, "StartLogging", Some(R::Trail), P::Name("name"), SEC, Change),
    aws(TRAIL, "DeleteTrail", Some(R::Trail), P::Name("name"), SEC, Sensitive),
    aws(TRAIL, "UpdateTrail", Some(R::Trail), P::Name("name"), SEC | IAC, Change),
    aws(TRAIL, "LookupEvents", None, P::None, SEC | MONITOR, Read),
    aws(TRAIL, "PutEventSelectors", Some(R::Trail), P::Name("trailName"), SEC | IAC, Change),
    aws(KMS, "Decrypt", Some(R::KmsKey), P::Name("keyId"), APP | DATA | CI | BACKUP, Read),
    aws(KMS, "Encrypt", Some(R::KmsKey), P::Name("keyId"), APP | DATA, Common),
    aws(KMS, "GenerateDataKey", Some(R::KmsKey), P::Name("keyId"), APP | BACKUP | DATA, Read),
    aws(KMS, "ScheduleKeyDeletion", Some(R::KmsKey), P::KeyDeletion, SEC | IAC, Sensitive),
    aws(KMS, "DisableKey", Some(R::KmsKey), P::Name("keyId"), SEC, Sensitive),
    aws(KMS, "CreateKey", None, P::None, IAC | SEC, Change),
    aws(KMS, "PutKeyPolicy", Some(R::KmsKey), P::Name("keyId"), IAC | SEC, Change),
    aws(SECRETS, "GetSecretValue", Some(R::Secret), P::Name("secretId"), APP | CI | DEV | OPS, Read),
    aws(SECRETS, "CreateSecret", Some(R::Secret), P::Name("name"), IAC | OPS, Change),
    aws(SECRETS, "PutSecretValue", Some(R::Secret), P::Name("secretId"), OPS | CI | IAC, Change),
    aws(SECRETS, "DeleteSecret", Some(R::Secret), P::Name("secretId"), OPS | SEC, Sensitive),
    aws(SECRETS, "RotateSecret", Some(R::Secret), P::Name("secretId"), SEC | OPS | APP, Change),
    aws(SECRETS, "ListSecrets", None, P::None, DEV | OPS | SEC | MONITOR, Read),
    aws(LAMBDA, "CreateFunction", Some(R::Function), P::Name("functionName"), IAC | CI, Change),
    aws(LAMBDA, "UpdateFunctionCode", Some(R::Function), P::Name("functionName"), CI | DEV, Common),
    aws(LAMBDA, "Invoke", Some(R::Function), P::Name("functionName"), APP | DEV, Read),
    aws(LAMBDA, "DeleteFunction", Some(R::Function), P::Name("functionName"), IAC | DEV, Change),
    aws(LAMBDA, "AddPermission", Some(R::Function), P::Name("functionName"), IAC | DEV, Change),
    aws(LAMBDA, "GetFunction", Some(R::Function), P::Name("functionName"), DEV | MONITOR | CI, Read),
    aws(RDS, "CreateDBInstance", Some(R::Database), P::Name("dBInstanceIdentifier"), IAC | OPS, Change),
    aws(RDS, "DeleteDBInstance", Some(R::Database), P::Name("dBInstanceIdentifier"), OPS | IAC, Sensitive),
    aws(RDS, "ModifyDBInstance", Some(R::Database), P::Name("dBInstanceIdentifier"), OPS | IAC, Change),
    aws(RDS, "CreateDBSnapshot", Some(R::Database), P::Name("dBInstanceIdentifier"), BACKUP | OPS, Common),
    aws(RDS, "RestoreDBInstanceFromDBSnapshot", Some(R::Database), P::Name("dBInstanceIdentifier"), OPS | DATA, Change),
    aws(RDS, "DescribeDBInstances", None, P::None, OPS | MONITOR | DATA | BACKUP, Read),
    aws(RDS, "ModifyDBSnapshotAttribute", Some(R::Database), P::Name("dBSnapshotIdentifier"), DATA | OPS, Sensitive),
    aws(LOGS, "CreateLogGroup", Some(R::LogGroup), P::Name("logGroupName"), IAC | APP, Change),
    aws(LOGS, "DeleteLogGroup", Some(R::LogGroup), P::Name("logGroupName"), SEC | OPS, Sensitive),
    aws(LOGS, "PutRetentionPolicy", Some(R::LogGroup), P::Retention, IAC | OPS, Change),
    aws(LOGS, "FilterLogEvents", Some(R::LogGroup), P::Name("logGroupName"), DEV | OPS | SEC | MONITOR, Read),
    aws(GUARDDUTY, "DeleteDetector", Some(R::Detector), P::Name("detectorId"), SEC, Sensitive),
    aws(GUARDDUTY, "UpdateDetector", Some(R::Detector), P::Name("detectorId"), SEC, Change),
    aws(GUARDDUTY, "ArchiveFindings", Some(R::Detector), P::Name("detectorId"), SEC, Common),
    aws(GUARDDUTY, "ListFindings", Some(R::Detector), P::Name("detectorId"), SEC | MONITOR, Read),
    aws(CONFIG, "StopConfigurationRecorder", None, P::None, SEC, Sensitive),
    aws(CONFIG, "DeleteConfigRule", Some(R::ConfigRule), P::Name("configRuleName"), SEC | IAC, Sensitive),
    aws(CONFIG, "PutConfigRule", Some(R::ConfigRule), P::Name("configRuleName"), IAC | SEC, Change),
    aws(ORGS, "LeaveOrganization", None, P::None, ADMIN, Sensitive),
    aws(ORGS, "InviteAccountToOrganization", Some(R::Account), P::Name("target"), ADMIN, Change),
    aws(ORGS, "ListAccounts", None, P::None, ADMIN | SEC | MONITOR, Read),
    aws(SSM, "GetParameter", Some(R::Parameter), P::Decryption, APP | CI | DEV, Read),
    aws(SSM, "PutParameter", Some(R::Parameter), P::Name("name"), IAC | OPS | CI, Change),
    aws(SSM, "StartSession", Some(R::Instance), P::Name("target"), OPS | DEV, Common),
    aws(SSM, "SendCommand", Some(R::Instance), P::Name("instanceIds"), OPS | IAC, Change),
    aws(SSM, "DeleteParameter", Some(R::Parameter), P::Name("name"), OPS, Change),
    aws(EKS, "CreateCluster", Some(R::Cluster), P::Name("name"), IAC, Change),
    aws(EKS, "DescribeCluster", Some(R::Cluster), P::Name("name"), CI | OPS | DEV | MONITOR, Read),
    aws(EKS, "UpdateClusterConfig", Some(R::Cluster), P::Name("name"), IAC | OPS, Change),
    aws(EKS, "DeleteCluster", Some(R::Cluster), P::Name("name"), IAC, Sensitive),
    aws(ROUTE53, "ChangeResourceRecordSets", Some(R::Zone), P::Name("hostedZoneId"), IAC | OPS, Change),
    aws(ROUTE53, "ListHostedZones", None, P::None, OPS | MONITOR, Read),
    aws(ECR, "PutImage", Some(R::Repo), P::Name("repositoryName"), CI, Common),
    aws(ECR, "BatchGetImage", Some(R::Repo), P::Name("repositoryName"), APP | CI, Read),
    aws(ECR, "DeleteRepository", Some(R::Repo), P::Name("repositoryName"), IAC | OPS, Sensitive),
    app("repo.read", Some(R::Repo), P::None, DEV | DATA | SEC, Read),
    app("repo.clone", Some(R::Repo), P::None, DEV | CI, Read),
    app("repo.push", Some(R::Repo), P::Push, DEV, Common),
    app("repo.create", Some(R::Repo), P::Visibility, DEV | ADMIN, Change),
    app("repo.delete", Some(R::Repo), P::None, ADMIN | DEV, Sensitive),
    app("repo.archive", Some(R::Repo), P::None, ADMIN | DEV, Change),
    app("repo.transfer", Some(R::Repo), P::None, ADMIN, Sensitive),
    app("repo.visibility_change", Some(R::Repo), P::Visibility, ADMIN | DEV, Sensitive),
    app("repo.fork", Some(R::Repo), P::None, DEV, Change),
    app("branch.create", Some(R::Repo), P::Branch, DEV | CI, Common),
    app("branch.delete", Some(R::Repo), P::Branch, DEV, Change),
    app("branch.protection_update", Some(R::Repo), P::Branch, ADMIN | DEV | SEC, Change),
    app("branch.protection_remove", Some(R::Repo), P::Branch, ADMIN | DEV, Sensitive),
    app("pull_request.open", Some(R::Repo), P::Branch, DEV, Common),
    app("pull_request.merge", Some(R::Repo), P::Branch, DEV, Common),
    app("pull_request.close", Some(R::Repo), P::None, DEV, Common),
    app("pull_request.approve", Some(R::Repo), P::None, DEV | SEC, Common),
    app("user.login", None, P::Login, PEOPLE, Common),
    app("user.logout", None, P::None, PEOPLE, Common),
    app("user.password_reset", None, P::None, PEOPLE, Change),
    app("user.mfa_enable", None, P::None, DEV | OPS | DATA, Change),
    app("user.mfa_disable", None, P::None, DEV | OPS | DATA, Sensitive),
    app("user.create", Some(R::Member), P::Role, ADMIN, Change),
    app("user.suspend", Some(R::Member), P::None, ADMIN | SEC, Sensitive),
    app("user.role_change", Some(R::Member), P::Role, ADMIN, Sensitive),
    app("org.member_add", Some(R::Member), P::Role, ADMIN, Change),
    app("org.member_remove", Some(R::Member), P::None, ADMIN, Change),
    app("org.settings_update", Some(R::Org), P::None, ADMIN, Change),
    app("org.sso_disable", Some(R::Org), P::None, ADMIN, Sensitive),
    app("team.create", Some(R::Team), P::None, ADMIN, Change),
    app("team.delete", Some(R::Team), P::None, ADMIN, Change),
    app("team.member_add", Some(R::Team), P::Role, ADMIN | DEV, Change),
    app("team.member_remove", Some(R::Team), P::None, ADMIN, Change),
    app("token.create", Some(R::Token), P::TokenScopes, DEV | ADMIN | OPS, Change),
    app("token.revoke", Some(R::Token), P::None, DEV | SEC | ADMIN, Change),
    app("token.use", Some(R::Token), P::None, CI | MONITOR, Read),
    app("secret.read", Some(R::Secret), P::None, APP | CI | DEV, Read),
    app("secret.create", Some(R::Secret), P::None, OPS | DEV, Change),
    app("secret.update", Some(R::Secret), P::None, OPS | CI, Change),
    app("secret.delete", Some(R::Secret), P::None, OPS | SEC, Sensitive),
    app("pipeline.run", Some(R::Pipeline), P::Trigger, CI | DEV, Common),
    app("pipeline.cancel", Some(R::Pipeline), P::None, DEV | CI, Change),
    app("pipeline.approve", Some(R::Pipeline), P::Environment, DEV | OPS, Change),
    app("pipeline.variable_update", Some(R::Pipeline), P::None, DEV | OPS, Sensitive),
    app("deployment.create", Some(R::Service), P::Environment, CI | OPS, Common),
    app("deployment.rollback", Some(R::Service), P::Environment, OPS | CI, Change),
    app("deployment.approve", Some(R::Service), P::Environment, OPS | DEV, Change),
    app("billing.invoice_download", Some(R::Org), P::None, ADMIN, Read),
    app("billing.plan_change", Some(R::Org), P::None, ADMIN, Sensitive),
    app("webhook.create", Some(R::Webhook), P::None, DEV | ADMIN, Change),
    app("webhook.delete", Some(R::Webhook), P::None, DEV | ADMIN, Change),
    app("webhook.update", Some(R::Webhook), P::None, DEV, Change),
    app("audit_log.export", Some(R::Org), P::None, SEC | ADMIN, Change),
    app("audit_log.stream_create", Some(R::Org), P::None, SEC, Sensitive),
];

pub const FIRST_NAMES: &[&str] = &[
    "alice", "bruno", "chen", "dana", "elif", "farid", "grace", "hiro", "ines", "jonas", "kofi", "lena", "marta",
    "nikhil", "olga", "pablo", "qiang", "rosa", "samir", "tanja", "umar", "vera", "wei", "ximena", "yusuf", "zoe",
    "amara", "bjorn", "carla", "dmitri", "emeka", "fatima", "goran", "hana", "ivan", "jana", "kenji", "leila", "mateo",
    "nadia",
];

pub const LAST_NAMES: &[&str] = &[
    "smith",
    "garcia",
    "novak",
    "tanaka",
    "okafor",
    "muller",
    "rossi",
    "kowalski",
    "silva",
    "jensen",
    "haddad",
    "kim",
    "nguyen",
    "petrov",
    "schmidt",
    "moreau",
    "costa",
    "ivanova",
    "yilmaz",
    "andersen",
    "fischer",
    "lopez",
    "sato",
    "mensah",
    "bauer",
    "romano",
    "dubois",
    "horvat",
    "larsen",
    "chopra",
    "weber",
    "santos",
    "berg",
    "popescu",
    "meyer",
    "ortiz",
    "ito",
    "keller",
    "nowak",
    "fernandez",
];

/// Application services: their roles, buckets, keys, secrets, functions and databases.
pub const SERVICES: &[&str] = &[
    "payments-api",
    "checkout",
    "search-indexer",
    "notifications",
    "billing-worker",
    "auth-gateway",
    "inventory",
    "reporting",
    "media-transcoder",
    "ledger",
    "fraud-scoring",
    "email-sender",
    "recommendations",
    "audit-exporter",
    "user-profile",
];

pub const ENVIRONMENTS: &[&str] = &["prod", "staging"];

pub const CI_ROLES: &[&str] =
    &["ci-deploy-prod", "ci-deploy-staging", "github-actions-oidc", "renovate-bot", "release-bot"];

pub const BACKUP_ROLES: &[&str] = &[
    "backup-runner-us-east-1",
    "backup-runner-eu-west-1",
    "backup-runner-eu-central-1",
    "backup-runner-ap-southeast-2",
    "db-snapshotter",
    "s3-replicator",
    "vault-backup",
    "ebs-snapshot-lifecycle",
];

pub const MONITOR_ROLES: &[&str] = &[
    "datadog-integration",
    "prometheus-exporter",
    "cloudwatch-agent",
    "security-hub-collector",
    "config-auditor",
    "cost-explorer-reader",
    "grafana-reader",
    "pagerduty-sync",
    "falco-forwarder",
    "log-shipper",
    "uptime-checker",
    "inventory-scanner",
];

pub const TERRAFORM_WORKSPACES: &[&str] = &[
    "network",
    "platform",
    "data",
    "security",
    "identity",
    "apps-prod",
    "apps-staging",
    "dns",
    "observability",
    "sandbox",
];

/// Roles people switch into, besides the service roles.
pub const HUMAN_ROLES: &[&str] = &[
    "OrganizationAccountAccessRole",
    "AWSReservedSSO_AdministratorAccess",
    "AWSReservedSSO_ReadOnlyAccess",
    "AWSReservedSSO_PowerUserAccess",
];

pub const POLICIES: &[&str] = &[
    "AdministratorAccess",
    "ReadOnlyAccess",
    "PowerUserAccess",
    "SecurityAudit",
    "AmazonS3FullAccess",
    "AmazonS3ReadOnlyAccess",
    "AmazonEC2FullAccess",
    "IAMFullAccess",
    "AWSLambda_FullAccess",
    "AmazonRDSFullAccess",
    "CloudWatchLogsReadOnlyAccess",
    "AWSKeyManagementServicePowerUser",
    "SecretsManagerReadWrite",
    "ViewOnlyAccess",
];

pub const BUCKET_PURPOSES: &[&str] = &[
    "logs",
    "backups",
    "artifacts",
    "data-lake",
    "reports",
    "media",
    "exports",
    "terraform-state",
    "cloudtrail",
    "static-site",
    "ml-models",
    "invoices",
    "uploads",
    "archive",
    "analytics",
    "tmp",
    "config",
    "audit",
    "db-dumps",
    "public-assets",
];

pub const OBJECT_KEYS: &[&str] =
    &["reports/daily-summary.csv", "exports/customers.parquet", "backups/latest.tar.gz", "builds/release.zip"];

pub const REPO_PREFIXES: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "notify",
    "billing",
    "auth",
    "inventory",
    "reporting",
    "media",
    "ledger",
    "fraud",
    "email",
    "recs",
    "audit",
    "profile",
    "infra",
    "platform",
    "design",
    "docs",
    "mobile",
];

pub const REPO_SUFFIXES: &[&str] = &["api", "web", "worker", "sdk", "terraform", "charts"];

pub const TEAMS: &[&str] = &[
    "platform",
    "payments",
    "security",
    "sre",
    "data-eng",
    "mobile",
    "web",
    "billing",
    "growth",
    "search",
    "identity",
    "infra",
    "ml",
    "support-tools",
    "finance",
    "compliance",
    "devex",
    "qa",
    "design-system",
    "api",
    "integrations",
    "analytics",
    "release",
    "observability",
    "it",
];

pub const INSTANCE_TYPES: &[&str] =
    &["t3.medium", "m6i.large", "c6i.xlarge", "r6g.2xlarge", "g5.xlarge", "p4d.24xlarge"];

pub const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"];

pub const PORTS: &[u16] = &[443, 22, 5432, 3389];

pub const CIDRS: &[&str] = &["10.0.0.0/8", "0.0.0.0/0", "203.0.113.0/24"];

pub const BRANCHES: &[&str] = &["main", "develop", "release", "hotfix"];

pub const TOKEN_SCOPES: &[&str] = &["repo", "read:packages", "workflow", "admin:org"];

pub const ORG_ROLES: &[&str] = &["member", "maintainer", "admin", "owner"];

pub const DEPLOY_ENVIRONMENTS: &[&str] = &["production", "staging", "development"];

/// Browsers people use for the web console and the application.
pub const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
];

/// Command-line tools people use.
pub const PERSON_TOOLS: &[&str] = &[
    "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-48-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe",
    "aws-cli/2.17.50 Python/3.11.9 Darwin/23.6.0 exe/x86_64 prompt/off command/s3.ls",
    "Boto3/1.35.60 md/Botocore#1.35.60 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.12.7 Botocore/1.35.60",
    "git/2.47.0",
    "gh/2.62.0 (linux)",
];

/// SDKs and tools services run with.
pub const SERVICE_AGENTS: &[&str] = &[
    "aws-sdk-go-v2/1.32.4 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/s3#1.66.3",
    "Boto3/1.35.60 md/Botocore#1.35.60 ua/2.0 os/linux#5.10.227 md/arch#x86_64 lang/python#3.11.10 Botocore/1.35.60",
    "aws-sdk-java/2.29.6 Linux/5.10.227 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. io/sync",
    "aws-sdk-js/3.692.0 ua/2.1 os/linux#5.10.227 lang/js md/nodejs#20.18.0 api/dynamodb#3.692.0",
];

pub const TERRAFORM_AGENT: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) \
     terraform-provider-aws/5.76.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.4";

pub const CI_AGENT: &str = "GitHubActions/2.320.0 (linux; x64) aws-cli/2.22.4 md/awscrt#0.22.0";

/// First octets of the home connections of people (ISP ranges, made up).
pub const HOME_NETWORKS: &[u8] = &[81, 86, 92, 109, 176, 188, 212, 77];

/// Errors by kind of failure.
pub const APP_FAILURES: &[&str] = &["not_found", "conflict", "rate_limited"];
pub const APP_DENIALS: &[&str] = &["permission_denied", "sso_required", "ip_not_allowed"];
pub const LOGIN_FAILURES: &[&str] = &["invalid_password", "mfa_failed", "account_locked"];

/// CloudTrail error codes of failed (not denied) calls, by event source.
pub fn aws_failures(source: &str) -> &'static [&'static str] {
    match source {
        S3 => &["NoSuchBucket", "NoSuchKey", "SlowDown"],
        EC2 => &["InvalidInstanceID.NotFound", "InsufficientInstanceCapacity", "RequestLimitExceeded"],
        IAM => &["NoSuchEntity", "EntityAlreadyExists", "LimitExceeded"],
        _ => &["ThrottlingException", "ValidationException", "ResourceNotFoundException"],
    }
}

/// CloudTrail error code of a denied call, by event source.
pub fn aws_denial(source: &str) -> &'static str {
    match source {
        S3 => "AccessDenied",
        EC2 => "Client.UnauthorizedOperation",
        _ => "AccessDeniedException",
    }
}

/// `s3` of `s3.amazonaws.com`.
pub fn service_of(source: &str) -> &str {
    source.split('.').next().unwrap_or(source)
}
