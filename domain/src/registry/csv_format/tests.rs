//! Unit tests of `csv_format`.

use super::*;

fn parse(s: &str) -> ParsedCsv {
    parse_csv(s.as_bytes(), "orgs.csv", &[], |_| {}).unwrap()
}

#[test]
fn quoted_fields_bom_crlf_and_spaces_are_handled() {
    let csv = "\u{feff}name , org_id,admin_email\r\n\"Acme, \"\"Inc\"\"\",00D4c0000008cs2, Jane@Acme.com \r\n";
    let p = parse(csv);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.rows[0].name, "Acme, \"Inc\"");
    assert_eq!(p.rows[0].org_id.as_str(), "00D4c0000008cs2EAA");
    assert_eq!(p.rows[0].admin_email.as_str(), "jane@acme.com");
    assert_eq!(p.rows[0].environment, None);
}

#[test]
fn errors_name_file_line_and_column_counting_multiline_records() {
    let csv = "org_id,name,admin_email\n00D4c0000008cs2,\"Two\nLines\",a@b.com\n00Dbad,Acme,not-an-email\n";
    let p = parse(csv);
    let msgs: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
    assert!(
        msgs[0].starts_with("orgs.csv:2: name: contains a line break"),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with("orgs.csv:4: org_id:")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("orgs.csv:4: admin_email:")),
        "{msgs:?}"
    );
}

#[test]
fn unknown_and_missing_columns_refuse_the_file() {
    let e = parse_csv("org_id,nme,admin_email\n".as_bytes(), "f.csv", &[], |_| {}).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("f.csv:1: header: unknown column `nme`"), "{s}");
    assert!(s.contains("missing required column `name`"), "{s}");
}

#[test]
fn the_same_org_twice_is_refused_even_in_both_spellings() {
    let p =
        parse("org_id,name,admin_email\n00D4c0000008cs2,A,a@b.com\n00D4c0000008cs2EAA,B,b@b.com\n");
    assert_eq!(p.rows.len(), 1);
    assert_eq!(
        p.errors[0].to_string(),
        "orgs.csv:3: org_id: org 00D4c0000008cs2EAA already appears on line 2"
    );
}

#[test]
fn environment_login_url_and_timezone_are_checked() {
    let p = parse(
        "org_id,name,admin_email,environment,login_url,timezone\n\
         00D4c0000008cs2,A,a@b.com,staging,http://acme.my.salesforce.com,Mars/Olympus\n",
    );
    let cols: Vec<&str> = p.errors.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(cols, ["environment", "login_url", "timezone"]);
}

#[test]
fn ragged_rows_are_reported_by_line() {
    let p = parse("org_id,name,admin_email\n00D4c0000008cs2,A\n");
    assert_eq!(p.errors[0].line, 2);
    assert_eq!(p.errors[0].column, "row");
}
