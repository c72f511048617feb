//! One audit record through the integration's ingest pipeline, processor by processor.

use std::collections::HashMap;

use ecs::date::Timestamp;
use std::borrow::Cow;

use serde_json::Value;

use crate::address;
use crate::ctx::{Ctx, Key};
use crate::node::{self, Node, Object};

/// Why a record could not be normalized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// The line is not UTF-8 JSON (the message says where: `invalid JSON at column 12: ..`).
    #[error("{0}")]
    Json(String),
    /// The record is not a JSON object.
    #[error("an audit record must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// `CreationTime` is not an ISO 8601 date (the pipeline fails the record too).
    #[error("CreationTime `{0}` is not an ISO 8601 date")]
    CreationTime(String),
    /// The record has no `CreationTime`: its document would have no `@timestamp`, which
    /// Elasticsearch refuses in a data stream (found by fuzzing, `fuzz/o365_normalize`).
    #[error("the record has no CreationTime, so its document would have no @timestamp")]
    NoCreationTime,
}

/// Options of the normalization, as the integration's settings give them.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Tenant id -> tenant name (the integration's `tenants` setting), for `organization.name`.
    pub tenants: HashMap<String, String>,
    /// Keep the raw record's JSON in `event.original` (the `preserve_original_event` tag).
    pub preserve_original: bool,
    /// Add what Elastic Agent and Elasticsearch add on the way in: `data_stream.*`,
    /// `event.dataset`, `event.module` and `event.ingested`.
    pub agent_fields: bool,
    /// The time the record was ingested (`event.ingested`); `None` takes its `@timestamp`, for
    /// records read from files, which have no ingest time.
    pub ingested: Option<Timestamp>,
    /// Tags to set on every document (the integration's `tags` setting).
    pub tags: Vec<String>,
}

/// `RecordType` number -> `event.code` (the integration's table).
const RECORD_TYPES: &[(u32, &str)] = &[
    (1, "ExchangeAdmin"),
    (2, "ExchangeItem"),
    (3, "ExchangeItemGroup"),
    (4, "SharePoint"),
    (6, "SharePointFileOperation"),
    (7, "OneDrive"),
    (8, "AzureActiveDirectory"),
    (9, "AzureActiveDirectoryAccountLogon"),
    (10, "DataCenterSecurityCmdlet"),
    (11, "ComplianceDLPSharePoint"),
    (12, "Sway"),
    (13, "ComplianceDLPExchange"),
    (14, "SharePointSharingOperation"),
    (15, "AzureActiveDirectoryStsLogon"),
    (16, "SkypeForBusinessPSTNUsage"),
    (17, "SkypeForBusinessUsersBlocked"),
    (18, "SecurityComplianceCenterEOPCmdlet"),
    (19, "ExchangeAggregatedOperation"),
    (20, "PowerBIAudit"),
    (21, "CRM"),
    (22, "Yammer"),
    (23, "SkypeForBusinessCmdlets"),
    (24, "Discovery"),
    (25, "MicrosoftTeams"),
    (28, "ThreatIntelligence"),
    (29, "MailSubmission"),
    (30, "MicrosoftFlow"),
    (31, "AeD"),
    (32, "MicrosoftStream"),
    (33, "ComplianceDLPSharePointClassification"),
    (34, "ThreatFinder"),
    (35, "Project"),
    (36, "SharePointListOperation"),
    (37, "SharePointCommentOperation"),
    (38, "DataGovernance"),
    (39, "Kaizala"),
    (40, "SecurityComplianceAlerts"),
    (41, "ThreatIntelligenceUrl"),
    (42, "SecurityComplianceInsights"),
    (43, "MIPLabel"),
    (44, "WorkplaceAnalytics"),
    (45, "PowerAppsApp"),
    (46, "PowerAppsPlan"),
    (47, "ThreatIntelligenceAtpContent"),
    (48, "LabelContentExplorer"),
    (49, "TeamsHealthcare"),
    (50, "ExchangeItemAggregated"),
    (51, "HygieneEvent"),
    (52, "DataInsightsRestApiAudit"),
    (53, "InformationBarrierPolicyApplication"),
    (54, "SharePointListItemOperation"),
    (55, "SharePointContentTypeOperation"),
    (56, "SharePointFieldOperation"),
    (57, "MicrosoftTeamsAdmin"),
    (58, "HRSignal"),
    (59, "MicrosoftTeamsDevice"),
    (60, "MicrosoftTeamsAnalytics"),
    (61, "InformationWorkerProtection"),
    (62, "Campaign"),
    (63, "DLPEndpoint"),
    (64, "AirInvestigation"),
    (65, "Quarantine"),
    (66, "MicrosoftForms"),
    (67, "ApplicationAudit"),
    (68, "ComplianceSupervisionExchange"),
    (69, "CustomerKeyServiceEncryption"),
    (70, "OfficeNative"),
    (71, "MipAutoLabelSharePointItem"),
    (72, "MipAutoLabelSharePointPolicyLocation"),
    (73, "MicrosoftTeamsShifts"),
    (75, "MipAutoLabelExchangeItem"),
    (76, "CortanaBriefing"),
    (78, "WDATPAlerts"),
    (82, "SensitivityLabelPolicyMatch"),
    (83, "SensitivityLabelAction"),
    (84, "SensitivityLabeledFileAction"),
    (85, "AttackSim"),
    (86, "AirManualInvestigation"),
    (87, "SecurityComplianceRBAC"),
    (88, "UserTraining"),
    (89, "AirAdminActionInvestigation"),
    (90, "MSTIC"),
    (91, "PhysicalBadgingSignal"),
    (93, "AipDiscover"),
    (94, "AipSensitivityLabelAction"),
    (95, "AipProtectionAction"),
    (96, "AipFileDeleted"),
    (97, "AipHeartBeat"),
    (98, "MCASAlerts"),
    (99, "OnPremisesFileShareScannerDlp"),
    (100, "OnPremisesSharePointScannerDlp"),
    (101, "ExchangeSearch"),
    (102, "SharePointSearch"),
    (103, "PrivacyInsights"),
    (105, "MyAnalyticsSettings"),
    (106, "SecurityComplianceUserChange"),
    (107, "ComplianceDLPExchangeClassification"),
    (109, "MipExactDataMatch"),
    (113, "MS365DCustomDetection"),
    (147, "CoreReportingSettings"),
    (148, "ComplianceConnector"),
    (174, "DataShareOperation"),
    (181, "EduDataLakeDownloadOperation"),
];

const PLATFORMS: &[&str] = &["Unknown", "Windows", "MacOS", "iOS", "Android", "Web Browser"];

const FILE_ACTIONS: &[&str] = &[
    "FileAccessed",
    "FileDeleted",
    "FileDownloaded",
    "FileModified",
    "FileMoved",
    "FileRenamed",
    "FileRestored",
    "FileUploaded",
    "FolderCopied",
    "FolderCreated",
    "FolderDeleted",
    "FolderModified",
    "FolderMoved",
    "FolderRenamed",
    "FolderRestored",
];

/// The `Data` keys the integration maps explicitly.
const DATA_KEYS: &[&str] = &[
    "ad", "af", "aii", "ail", "alk", "als", "an", "at", "cid", "cpid", "dm", "dpn", "eid", "etps", "etype", "f3u",
    "fvs", "imsgid", "lon", "mat", "md", "ms", "od", "op", "ot", "plk", "pud", "reid", "rid", "sev", "sict", "sid",
    "sip", "sitmi", "srt", "ssic", "suid", "tdc", "te", "thn", "tht", "tid", "tpid", "tpt", "trc", "ts", "tsd", "ttdt",
    "ttr", "upfc", "upfv", "ut", "von", "wl", "zfh", "zfn", "zmfh", "zmfn", "zu",
];

/// A field of the raw record (`o365audit.*` in the integration's pipeline).
fn a(field: &str) -> Key<'_> {
    Key::record(field)
}

fn s<'a>(text: &'a str) -> Node<'a> {
    Node::str(text)
}

fn number<'a>(n: i64) -> Node<'a> {
    Node::Number(n.into())
}

/// Normalizes one raw audit record into the ECS document Elastic's `o365` integration indexes.
///
/// # Errors
///
/// When the record is not a JSON object, or its `CreationTime` is not a date.
pub fn normalize(record: Value, options: &Options) -> Result<Value, NormalizeError> {
    pipeline(Node::borrow(&record), options).map(|doc| Node::Object(doc).into_value())
}

/// [`normalize`] for a record still in its text (an NDJSON line): the document is written to
/// `out` as compact JSON (the bytes `serde_json` writes for [`normalize`]'s document), without
/// the record ever becoming a `serde_json::Value`.
///
/// # Errors
///
/// As [`normalize`], and when the line is not UTF-8 JSON; nothing is written then.
pub fn normalize_line(line: &[u8], options: &Options, out: &mut Vec<u8>) -> Result<(), NormalizeError> {
    let record: Node<'_> = ecs::decode(line).map_err(|e| NormalizeError::Json(e.to_string()))?;
    pipeline(record, options)?.write(out);
    Ok(())
}

/// The integration's pipeline, processor by processor, over the record decoded once: its values
/// are moved into the document, not copied.
fn pipeline<'a>(record: Node<'a>, options: &Options) -> Result<Object<'a>, NormalizeError> {
    let original = options.preserve_original.then(|| record.to_string());
    let Node::Object(record) = record else { return Err(NormalizeError::NotAnObject(record.kind())) };
    let mut c = Ctx { root: Object::new(), record };
    if let Some(original) = original {
        c.set("event.original", Node::str(original));
    }
    if !options.tags.is_empty() {
        c.set("tags", Node::Array(options.tags.iter().map(|t| Node::str(t.clone())).collect()));
    }

    c.set("ecs.version", s("8.11.0"));
    c.set("event.kind", s("event"));
    c.append("event.type", s("info"), true);
    c.append("event.category", s("web"), true);
    match c.get(a("CreationTime")) {
        Some(Node::String(created)) => {
            let time = parse_iso8601(created).ok_or_else(|| NormalizeError::CreationTime(created.to_string()))?;
            c.set("@timestamp", Node::str(time.to_string()));
        }
        Some(created) if !created.is_null() => return Err(NormalizeError::CreationTime(created.text().into_owned())),
        _ => return Err(NormalizeError::NoCreationTime),
    }
    c.rename(a("Id"), "event.id");
    if c.has(a("ListBaseType")) {
        c.convert_to_string(a("ListBaseType"), a("ListBaseType"));
    }
    c.rename(a("ClientIPAddress"), "client._temp");
    for field in ["ClientIP", "ActorIpAddress"] {
        if !c.has("client._temp") {
            c.rename(a(field), "client._temp");
        }
    }
    c.convert_to_string(a("UserId"), "user.id");
    c.rename(a("Workload"), "event.provider");
    c.rename(a("Operation"), "event.action");
    c.rename(a("OrganizationId"), "organization.id");
    if let Some(Node::String(props)) = c.get(a("OperationProperties")).cloned() {
        match Node::parse(props) {
            Ok(parsed) => c.set(a("OperationProperties"), parsed),
            Err(err) => {
                c.remove(a("OperationProperties"));
                c.append("error.message", Node::str(format!("OperationProperties is not JSON: {err}")), true);
            }
        }
    }
    c.rename(a("UserAgent"), "user_agent.original");
    let code = c
        .get(a("RecordType"))
        .and_then(|t| t.text().parse::<u32>().ok())
        .and_then(|record_type| RECORD_TYPES.iter().find(|(n, _)| *n == record_type))
        .map_or("", |(_, code)| *code);
    if !code.is_empty() {
        c.set("event.code", s(code));
    }
    if let Some(status) = c.get(a("ResultStatus")).map(Node::text) {
        // Painless's toLowerCase() then ==; the same as ignoring ASCII case for these words.
        let is = |words: &[&str]| words.iter().any(|w| status.eq_ignore_ascii_case(w));
        if is(&["succeeded", "success", "partiallysucceeded", "true"]) {
            c.set("event.outcome", s("success"));
        }
        if is(&["failed", "false"]) {
            c.set("event.outcome", s("failure"));
        }
    }
    if !c.has("event.outcome") {
        c.set("event.outcome", s("success"));
    }
    name_value_map(&mut c, "Parameters");
    if let Some(platform) = c.get(a("Platform")).map(Node::text)
        && let Some(name) = platform.parse::<usize>().ok().and_then(|i| PLATFORMS.get(i))
    {
        c.set(a("Platform"), s(name));
    }
    name_value_map(&mut c, "ExtendedProperties");
    modified_properties(&mut c, "ModifiedProperties");
    if let Some(Node::Array(links)) = c.get(a("AlertLinks")).cloned() {
        let hrefs: Vec<Node<'_>> =
            links.iter().filter_map(|l| l.get("AlertLinkHref").filter(|h| h.is_string()).cloned()).collect();
        if hrefs.is_empty() {
            c.remove(a("AlertLinks"));
        } else {
            c.set(a("AlertLinks"), Node::Array(hrefs));
        }
    }
    for (severity, code) in [("informational", 1), ("low", 2), ("medium", 3), ("high", 4)] {
        if c.is(a("Severity"), severity) {
            c.set("event.severity", number(code));
        }
    }
    // ExchangeAdmin and ExchangeItem
    if code == "ExchangeAdmin" || code == "ExchangeItem" {
        if code == "ExchangeItem" {
            c.rename(a("MailboxOwnerUPN"), "user.email");
            if !c.has("user.id") && c.has(a("LogonUserSid")) {
                c.convert_to_string(a("LogonUserSid"), "user.id");
            }
            c.rename(a("LogonUserDisplayName"), "user.full_name");
        }
        c.rename(a("OrganizationName"), "organization.name");
        c.rename(a("OriginatingServer"), "server._temp");
        if code == "ExchangeItem" {
            c.rename(a("ClientIPAddress"), "client._temp");
            c.rename(a("ClientProcessName"), "process.name");
        }
    }
    if code == "AzureActiveDirectory" {
        c.copy(a("ObjectId"), "user.target.id");
        relabel(&mut c, "added-user-account", "iam", &["user", "creation"]);
        relabel(&mut c, "modified-user-account", "iam", &["user", "change"]);
        relabel(&mut c, "deleted-user-account", "iam", &["user", "deletion"]);
    }
    if code == "AzureActiveDirectoryStsLogon" {
        c.append("event.category", s("authentication"), true);
        c.append("event.type", s("start"), true);
        c.append("event.type", s("access"), true);
    }
    if code == "SharePointFileOperation" || code == "SharePointSharingOperation" {
        c.rename(a("ObjectId"), "url.original");
        c.rename(a("SourceRelativeUrl"), "file.directory");
        c.rename(a("SourceFileName"), "file.name");
        c.rename(a("SourceFileExtension"), "file.extension");
    }
    let action = match c.get("event.action") {
        Some(Node::String(action)) => action.clone(),
        _ => Cow::Borrowed(""),
    };
    let action = action.as_ref();
    if FILE_ACTIONS.contains(&action) {
        c.append("event.category", s("file"), true);
    }
    if action == "ComplianceSettingChanged" {
        c.append("event.category", s("configuration"), true);
    }
    if ["FileAccessed", "FileDownloaded"].contains(&action) {
        c.append("event.type", s("access"), true);
    }
    let changed = [
        "ComplianceSettingChanged",
        "FileModified",
        "FileMoved",
        "FileRenamed",
        "FileRestored",
        "FolderModified",
        "FolderMoved",
        "FolderRenamed",
        "FolderRestored",
    ];
    if changed.contains(&action) {
        c.append("event.type", s("change"), true);
    }
    if ["FileDeleted", "FolderDeleted"].contains(&action) {
        c.append("event.type", s("deletion"), true);
    }
    if ["FileUploaded", "FolderCopied", "FolderCreated"].contains(&action) {
        c.append("event.type", s("creation"), true);
    }
    if code == "SecurityComplianceAlerts" {
        security_compliance_alert(&mut c);
    }
    if code == "ComplianceDLPSharePoint" || code == "ComplianceDLPExchange" {
        dlp(&mut c);
    }
    if code == "Yammer" {
        yammer(&mut c, action);
    }
    if code == "MicrosoftTeams" {
        teams(&mut c);
    }
    addresses(&mut c);
    for prefix in ["user", "user.target", "source.user", "destination.user"] {
        split_email(&mut c, prefix);
    }
    if let Some(ip) = c.get_str("client.ip").map(str::to_owned) {
        c.set("network.type", s(if ip.contains(':') { "ipv6" } else { "ipv4" }));
    }
    for from in ["client.ip", "server.ip"] {
        if let Some(ip) = c.get(from).cloned() {
            c.append("related.ip", Node::str(ip.text()), false);
        }
    }
    for from in [Key::from("user.name"), "user.target.name".into(), "file.owner".into(), a("Parameters.User")] {
        if let Some(user) = c.get(from).filter(|v| !v.is_null()).cloned() {
            c.append("related.user", Node::str(user.text()), false);
        }
    }
    if c.has(a("ExtendedProperties.UserAgent")) {
        c.rename(a("ExtendedProperties.UserAgent"), "user_agent.original");
    }
    if let Some(id) = c.get_str("organization.id").map(str::to_lowercase) {
        c.set("organization.id", Node::str(id.clone()));
        c.set("host.id", Node::str(id.clone()));
        if let Some(name) = options.tenants.get(&id) {
            c.set("organization.name", Node::str(name.clone()));
            c.set("host.name", Node::str(name.clone()));
        }
    }
    if !c.has("host.name") {
        if let Some(name) = c.get("organization.name").cloned() {
            c.set("host.name", name);
        } else if let Some(domain) = c.get("user.domain").cloned() {
            c.set("host.name", domain);
        }
    }
    for field in ["AzureActiveDirectoryEventType", "RecordType", "UserType"] {
        c.convert_to_string(a(field), a(field));
    }
    for list in ["Actor", "Target"] {
        if let Some(Node::Array(items)) = c.get_mut(a(list)) {
            for item in items.iter_mut().filter_map(Node::as_object_mut) {
                if let Some(kind) = item.get("Type").filter(|t| !t.is_null()).map(Node::text) {
                    item.insert("Type", Node::String(kind));
                }
            }
        }
    }
    for field in ["Version", "InternalLogonType", "LogonType", "ActorYammerUserId", "YammerNetworkId"] {
        c.convert_to_string(a(field), a(field));
    }
    data(&mut c);
    let record = std::mem::take(&mut c.record);
    c.set("o365.audit", Node::Object(record));
    if options.agent_fields {
        let mut data_stream = Object::new();
        for (key, value) in [("type", "logs"), ("dataset", "o365.audit"), ("namespace", "default")] {
            data_stream.insert(key, s(value));
        }
        c.set("data_stream", Node::Object(data_stream));
        c.set("event.dataset", s("o365.audit"));
        c.set("event.module", s("o365"));
        match options.ingested {
            Some(ingested) => c.set("event.ingested", Node::str(ingested.to_string())),
            None => c.copy("@timestamp", "event.ingested"),
        }
    }
    Ok(c.root)
}

/// How a field of the documents [`normalize`] makes reaches them from the raw record, for a
/// prefilter that searches raw records before they are normalized
/// (`kql::Query::required_literals_in`): a literal of a field whose values are copied verbatim
/// must be in any record whose document matches; any other field requires nothing of the
/// record.
///
/// ```
/// use ecs::Copied;
/// assert_eq!(o365::copied("event.provider"), Copied::Value); // the record's `Workload`
/// assert_eq!(o365::copied("o365.audit.Parameters.Enabled"), Copied::Value); // {"Name": "Enabled", "Value": ..}
/// assert_eq!(o365::copied("o365.audit.OperationCount"), Copied::ValueAndName);
/// assert_eq!(o365::copied("event.outcome"), Copied::No); // worked out from `ResultStatus`
/// ```
pub fn copied(field: &str) -> ecs::Copied {
    use ecs::Copied;
    match field {
        "event.id" | "event.provider" | "user_agent.original" => Copied::Value,
        "event.action" => Copied::Except(&RELABELED_TO),
        _ => {
            let Some(rest) = field.strip_prefix("o365.audit.") else { return Copied::No };
            let first = rest.split('.').next().unwrap_or_default();
            // Parsed from JSON strings (`Data` with dates rewritten), mapped from a number.
            if ["OperationProperties", "Data", "Platform"].contains(&first) {
                Copied::No
            } else if rest.ends_with("._raw")
                || rest == "ExceptionInfo.Reason"
                || ["Parameters", "ExtendedProperties", "ModifiedProperties"].contains(&first)
            {
                // A string moved under a key of the pipeline's own, or out of a `{Name, Value}`
                // list whose names become keys.
                Copied::Value
            } else {
                Copied::ValueAndName
            }
        }
    }
}

/// Whether a JSON value is a raw Management Activity record rather than an ECS document: it has
/// the common schema's `CreationTime`, `Operation` and `RecordType`, and no `@timestamp`.
pub fn is_raw_record(value: &Value) -> bool {
    let Some(map) = value.as_object() else { return false };
    has_raw_keys(|key| map.contains_key(key))
}

/// [`is_raw_record`] for an object whose top-level keys `has` knows (one not decoded yet).
pub fn has_raw_keys(has: impl Fn(&str) -> bool) -> bool {
    ["CreationTime", "Operation", "RecordType"].iter().all(|k| has(k)) && !has("@timestamp")
}

/// Whether a raw record with this `CreationTime` gets past [`normalize`]'s date check (for a
/// prefilter that leaves records out without normalizing them, but must not hide a bad one).
pub fn is_creation_time(text: &str) -> bool {
    parse_iso8601(text).is_some()
}

/// Elasticsearch's `ISO8601` date format; a time without a zone is UTC.
fn parse_iso8601(text: &str) -> Option<Timestamp> {
    Timestamp::parse(text, false).filter(|_| text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-'))
}

/// `[{"Name": n, "Value": v}, ...]` -> `{n: v}` (null values skipped, the last duplicate wins);
/// a string -> `{"_raw": string}`.
fn name_value_map(c: &mut Ctx<'_>, field: &'static str) {
    match c.get_mut(a(field)) {
        Some(Node::Array(items)) => {
            let mut map = Object::new();
            for item in std::mem::take(items) {
                let Node::Object(mut entry) = item else { continue };
                if let (Some(name), Some(value)) =
                    (entry.get("Name").map(Node::text), entry.take("Value").filter(|v| !v.is_null()))
                {
                    map.insert(name, value);
                }
            }
            c.set(a(field), Node::Object(map));
        }
        Some(Node::String(_)) => move_under(c, field, "_raw"),
        _ => {}
    }
}

/// A string where the pipeline expects a structure: moved to `{key: string}`, last in the
/// record.
fn move_under(c: &mut Ctx<'_>, field: &'static str, key: &'static str) {
    let Some(value) = c.remove(a(field)) else { return };
    let mut moved = Object::new();
    moved.insert(key, value);
    c.set(a(field), Node::Object(moved));
}

/// `ModifiedProperties`: `{Name, OldValue, NewValue}` entries become `{Name_with_underscores:
/// {NewValue, OldValue}}`; bare strings become empty objects; nothing left removes the field.
fn modified_properties(c: &mut Ctx<'_>, field: &'static str) {
    fn valid(name: Cow<'_, str>) -> Cow<'_, str> {
        if name.contains([' ', '.']) { Cow::Owned(name.replace([' ', '.'], "_")) } else { name }
    }
    match c.get_mut(a(field)) {
        Some(Node::Array(items)) => {
            let mut map = Object::new();
            for item in std::mem::take(items) {
                match item {
                    Node::Object(mut entry) => {
                        if let (Some(name), Some(old), Some(new)) = (
                            entry.get("Name").map(Node::text),
                            entry.take("OldValue").filter(|v| !v.is_null()),
                            entry.take("NewValue").filter(|v| !v.is_null()),
                        ) {
                            let mut change = Object::new();
                            change.insert("NewValue", new);
                            change.insert("OldValue", old);
                            map.insert(valid(name), Node::Object(change));
                        }
                    }
                    Node::String(name) => map.insert(valid(name), Node::Object(Object::new())),
                    _ => {}
                }
            }
            if map.is_empty() {
                c.remove(a(field));
            } else {
                c.set(a(field), Node::Object(map));
            }
        }
        Some(Node::String(_)) => move_under(c, field, "_raw"),
        _ => {}
    }
}

fn security_compliance_alert(c: &mut Ctx<'_>) {
    // The pipeline then maps AlertEntityId to user.id, user.email or threat.technique.id by
    // EntityType, but it has already moved AlertEntityId to rule.description, so those never run.
    for (from, to) in [
        ("Comments", "message"),
        ("Name", "rule.name"),
        ("PolicyId", "rule.id"),
        ("Category", "rule.category"),
        ("EntityType", "rule.ruleset"),
        ("AlertEntityId", "rule.description"),
        ("AlertLinks", "rule.reference"),
    ] {
        c.rename(a(from), to);
    }
    c.set("event.kind", s("alert"));
    // Category was renamed above, so these read `o365audit.Category`, which is gone: only `web`
    // and `info` are added, as in the pipeline.
    c.append("event.category", s("web"), false);
    c.append("event.type", s("info"), false);
}

fn dlp(c: &mut Ctx<'_>) {
    c.set("event.kind", s("alert"));
    c.append("event.category", s("file"), true);
    c.append("event.type", s("access"), true);
    if !c.has("user.id") {
        c.rename(a("SharePointMetaData.From"), "user.id");
    }
    for (from, to) in [
        ("SharePointMetaData.FileName", "file.name"),
        ("SharePointMetaData.FilePathUrl", "url.original"),
        ("SharePointMetaData.UniqueId", "file.inode"),
        ("SharePointMetaData.UniqueID", "file.inode"),
        ("SharePointMetaData.FileOwner", "file.owner"),
        ("ExchangeMetaData.From", "source.user.email"),
        ("ExchangeMetaData.Subject", "message"),
        ("PolicyId", "rule.id"),
        ("PolicyName", "rule.name"),
    ] {
        c.rename(a(from), to);
    }
    if let Some(modified) = c.get_str(a("SharePointMetaData.LastModifiedTime")).and_then(parse_iso8601) {
        c.set("file.mtime", Node::str(modified.to_string()));
    }
    if let Some(meta) = c.get(a("ExchangeMetaData")).cloned() {
        let mut emails = Vec::new();
        for field in ["To", "CC", "BCC"] {
            match meta.get(field) {
                Some(Node::Array(list)) => emails.extend(list.iter().cloned()),
                Some(one @ Node::String(_)) => emails.push(one.clone()),
                _ => {}
            }
        }
        c.set("destination.user.email", Node::Array(emails));
    }
    if c.get(a("ExceptionInfo")).is_some_and(Node::is_string) {
        move_under(c, "ExceptionInfo", "Reason");
    }
    let Some(policies) = c.get(a("PolicyDetails")).cloned() else { return };
    let severity_code = |x: &str| match x.to_lowercase().as_str() {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        _ => 0,
    };
    let mut ids = match c.remove("rule.id") {
        Some(Node::Array(items)) => items,
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let mut names = match c.remove("rule.name") {
        Some(Node::Array(items)) => items,
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let mut max_severity = 0;
    let mut allowed = true;
    for policy in policies.as_array().into_iter().flatten() {
        for rule in policy.get("Rules").and_then(Node::as_array).into_iter().flatten() {
            if let (Some(id), Some(name)) =
                (rule.get("RuleId").filter(|v| !v.is_null()), rule.get("RuleName").filter(|v| !v.is_null()))
            {
                ids.push(id.clone());
                names.push(name.clone());
            }
            let severity = rule.get("Severity").and_then(Node::as_str).map_or(0, severity_code);
            max_severity = max_severity.max(severity);
            let blocks = rule
                .get("Actions")
                .and_then(Node::as_array)
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("BlockAccess")));
            allowed &= !blocks;
        }
    }
    c.set("rule.id", Node::Array(ids));
    c.set("rule.name", Node::Array(names));
    c.set("event.severity", number(max_severity));
    let exception =
        c.get(a("ExceptionInfo")).is_some_and(|e| e.as_object().is_none_or(|m| !m.is_empty()) && !e.is_null());
    let outcome = if allowed || c.is("event.action", "DlpRuleUndo") {
        "success"
    } else if c.is("event.action", "DlpInfo") {
        "failure"
    } else if exception {
        "success"
    } else {
        "failure"
    };
    c.set("event.outcome", s(outcome));
}

fn yammer(c: &mut Ctx<'_>, action: &str) {
    c.rename(a("ActorUserId"), "user.email");
    if !c.has("user.id") {
        c.convert_to_string(a("ActorYammerUserId"), "user.id");
        if c.has("user.id") {
            c.remove(a("ActorYammerUserId"));
        }
    }
    for (from, to) in [
        ("FileId", "file.inode"),
        ("FileName", "file.name"),
        ("GroupName", "group.name"),
        ("TargetUserId", "destination.user.email"),
        ("TargetYammerUserId", "destination.user.id"),
    ] {
        c.rename(a(from), to);
    }
    let any = |list: &[&str]| list.contains(&action);
    let config = [
        "NetworkConfigurationUpdated",
        "NetworkSecurityConfigurationUpdated",
        "SoftDeleteSettingsUpdated",
        "ProcessProfileFields",
        "SupervisorAdminToggled",
    ];
    if any(&config) {
        c.append("event.category", s("configuration"), true);
    }
    if any(&[
        "NetworkSecurityConfigurationUpdated",
        "GroupCreation",
        "GroupDeletion",
        "NetworkUserSuspended",
        "UserSuspension",
    ]) {
        c.append("event.category", s("iam"), true);
    }
    if any(&["FileCreated", "FileDownloaded", "FileShared", "FileUpdateDescription", "FileUpdateName", "FileVisited"]) {
        c.append("event.category", s("file"), true);
    }
    if any(&config) {
        c.append("event.type", s("change"), true);
    }
    if action == "NetworkSecurityConfigurationUpdated" {
        c.append("event.type", s("admin"), true);
    }
    if any(&["FileCreated", "GroupCreation", "FileUpdateName"]) {
        c.append("event.type", s("creation"), true);
    }
    if action == "GroupDeletion" {
        c.append("event.type", s("deletion"), true);
    }
    if any(&["FileDownloaded", "FileShared", "FileUpdateDescription", "FileVisited"]) {
        c.append("event.type", s("access"), true);
    }
    if any(&["GroupCreation", "GroupDeletion"]) {
        c.append("event.type", s("group"), true);
    }
}

/// Actions the pipeline renames: (the record's `Operation`, the document's `event.action`).
const RELABELED: [(&str, &str); 5] = [
    ("Add user.", "added-user-account"),
    ("Update user.", "modified-user-account"),
    ("Delete user.", "deleted-user-account"),
    ("TeamCreated", "added-group-account-to"),
    ("MemberAdded", "added-users-to-group"),
];

/// The `event.action` values the pipeline writes in place of a record's `Operation`.
const RELABELED_TO: [&str; 5] = {
    let mut out = [""; 5];
    let mut i = 0;
    while i < RELABELED.len() {
        out[i] = RELABELED[i].1;
        i += 1;
    }
    out
};

/// An action the pipeline renames (to `to`, from its [`RELABELED`] name), and the category and
/// types it then appends.
fn relabel(c: &mut Ctx<'_>, to: &'static str, category: &'static str, types: &[&'static str]) {
    if let Some((from, _)) = RELABELED.iter().find(|(_, t)| *t == to)
        && c.is("event.action", from)
    {
        c.set("event.action", s(to));
    }
    if c.is("event.action", to) {
        c.append("event.category", s(category), true);
        for kind in types {
            c.append("event.type", s(kind), true);
        }
    }
}

fn teams(c: &mut Ctx<'_>) {
    relabel(c, "added-group-account-to", "iam", &["group", "creation"]);
    c.rename(a("TeamName"), "group.name");
    relabel(c, "added-users-to-group", "iam", &["group", "change"]);
    relabel(c, "deleted-user-account", "iam", &["user", "deletion"]);
    if c.is("event.action", "deleted-user-account") {
        c.rename(a("ObjectId"), "user.target.id");
    }
    if let Some(Node::Array(members)) = c.get(a("Members")) {
        let upns: Vec<_> = members
            .iter()
            .filter_map(|member| member.get("UPN").filter(|u| u.as_str().is_some_and(|u| !u.is_empty())).cloned())
            .collect();
        for upn in upns {
            c.append("related.user", upn, true);
        }
        if !c.has("related.user") {
            c.set("related.user", Node::Array(Vec::new()));
        }
    }
}

/// Client and server addresses: grok, then `convert` to ip (invalid addresses give no ip).
fn addresses(c: &mut Ctx<'_>) {
    if let Some(temp) = c.remove("client._temp").map(|v| v.text()).filter(|t| !t.is_empty()) {
        let parsed = address::client(&temp);
        if let Some(domain) = parsed.domain {
            c.set("client.domain", Node::str(domain));
        }
        if let Some(address) = parsed.address {
            c.set("client.address", Node::str(address));
        }
        if let Some(port) = parsed.port.and_then(|p| p.parse::<i64>().ok()) {
            c.set("client.port", number(port));
        }
    }
    if let Some(temp) = c.remove("server._temp").map(|v| v.text()).filter(|t| !t.is_empty()) {
        let parsed = address::server(&temp);
        if let Some(domain) = parsed.domain {
            c.set("server.domain", Node::str(domain));
        }
        if let Some(address) = parsed.address {
            c.set("server.address", Node::str(address));
        }
    }
    for (address, ip) in [("client.address", "client.ip"), ("server.address", "server.ip")] {
        if let Some(text) = c.get_str(address).filter(|t| t.parse::<std::net::IpAddr>().is_ok()).map(str::to_owned) {
            c.set(ip, Node::str(text));
        }
    }
    c.copy("client.ip", "source.ip");
    c.copy("client.port", "source.port");
    c.copy("server.ip", "destination.ip");
}

/// `x.id` holding `name@domain` (exactly one `@`) gives `x.email`, `x.domain` and `x.name`.
fn split_email(c: &mut Ctx<'_>, prefix: &'static str) {
    let Some(Node::String(id)) = c.get(Key::under(prefix, "id")).cloned() else { return };
    let Some(at) = id.find('@').filter(|at| !id[at + 1..].contains('@')) else { return };
    let (name, domain) = (node::slice(&id, ..at), node::slice(&id, at + 1..));
    c.set(Key::under(prefix, "email"), Node::String(id));
    c.set(Key::under(prefix, "domain"), Node::String(domain));
    c.set(Key::under(prefix, "name"), Node::String(name));
}

/// `Data` (a JSON string): parsed, kept whole as `Data.flattened`, known keys copied beside it,
/// dates and the IP converted.
fn data(c: &mut Ctx<'_>) {
    let Some(raw) = c.remove(a("Data")) else { return };
    let parsed = match &raw {
        Node::String(text) => Node::parse(text.clone()).unwrap_or(raw),
        _ => raw,
    };
    let mut data = Object::new();
    if let Node::Object(fields) = &parsed {
        for key in DATA_KEYS {
            if let Some(value) = fields.get(key) {
                data.insert(*key, value.clone());
            }
        }
    }
    data.insert("flattened", parsed);
    for key in ["at", "md", "te", "ts", "ttdt"] {
        if let Some(date) = data.get(key).and_then(Node::as_str).and_then(parse_iso8601) {
            data.insert(key, Node::str(date.to_string()));
        }
    }
    let users: Vec<_> = ["f3u", "suid", "tsd", "trc"]
        .iter()
        .filter_map(|key| {
            data.get(key).filter(|u| u.as_str().is_some_and(|u| u.split('@').count() == 2 && u.len() >= 3))
        })
        .cloned()
        .collect();
    c.set(a("Data"), Node::Object(data));
    for user in users {
        c.append("related.user", user, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/o365_normalize`): a record without `CreationTime` made a document
    /// without `@timestamp`.
    #[test]
    fn a_record_without_a_creation_time_is_refused() {
        let record = serde_json::json!({"Id": "7c1e", "Operation": "Set-DkimSigningConfig", "RecordType": 1, "Workload": "Exchange"});
        assert_eq!(normalize(record, &Options::default()), Err(NormalizeError::NoCreationTime));
    }
}
