//! Rendering tests. Expected strings come from the docker 28.2.2 CLI run against
//! the same templates (`docker context ls/inspect --format ...`) and from
//! docker/cli's and docker/go-units' own test expectations.

use serde_json::{json, Value};

use super::*;

fn one(tmpl: &str, v: &Value) -> String {
    match render_one(tmpl, v) {
        Ok(s) => s,
        Err(e) => panic!("{tmpl}: {e}"),
    }
}

fn context_row() -> Value {
    json!({
        "Name": "default",
        "Description": "Current DOCKER_HOST based configuration",
        "DockerEndpoint": "unix:///var/run/docker.sock",
        "Current": true,
        "Error": ""
    })
}

const CONTEXT_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("DockerEndpoint", "DOCKER ENDPOINT"),
    ("Error", "ERROR"),
];
const CONTEXT_TABLE: &str =
    "table {{.Name}}{{if .Current}} *{{end}}\\t{{.Description}}\\t{{.DockerEndpoint}}\\t{{.Error}}";

#[test]
fn default_table_matches_docker_context_ls() {
    let want = "NAME        DESCRIPTION                               DOCKER ENDPOINT               ERROR\n\
                default *   Current DOCKER_HOST based configuration   unix:///var/run/docker.sock   \n";
    let rows = [context_row()];
    assert_eq!(
        render_list("", CONTEXT_TABLE, &rows, CONTEXT_HEADERS).unwrap(),
        want
    );
    assert_eq!(
        render_list("table", CONTEXT_TABLE, &rows, CONTEXT_HEADERS).unwrap(),
        want
    );
}

#[test]
fn header_error_keeps_partial_header_like_docker() {
    // docker prints "NAME" only: `json .Current` fails on the header map.
    let got = render_list(
        "table {{.Name}}\\t{{json .Current}}\\t{{upper .Description}}\\t{{.DockerEndpoint | printf \"%.5s\"}}",
        CONTEXT_TABLE,
        &[context_row()],
        CONTEXT_HEADERS,
    )
    .unwrap();
    assert_eq!(
        got,
        "NAME      \ndefault   true      CURRENT DOCKER_HOST BASED CONFIGURATION   unix:\n"
    );
}

#[test]
fn images_style_table_with_custom_columns() {
    let rows = [
        json!({"Repository": "alpine", "Tag": "latest", "ID": "sha256:1d34", "Size": "7.8MB"}),
        json!({"Repository": "registry.example.com/team/app", "Tag": "v1.2.3", "ID": "sha256:99ff", "Size": "188MB"}),
    ];
    let headers = [
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("Size", "SIZE"),
    ];
    let got = render_list(
        "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}",
        "",
        &rows,
        &headers,
    )
    .unwrap();
    let want = "REPOSITORY                      TAG       SIZE\n\
                alpine                          latest    7.8MB\n\
                registry.example.com/team/app   v1.2.3    188MB\n";
    assert_eq!(got, want);
    // No rows: the header alone.
    let got = render_list("table {{.Repository}}\\t{{.Tag}}", "", &[], &headers).unwrap();
    assert_eq!(got, "REPOSITORY   TAG\n");
}

#[test]
fn json_format_sorts_keys_one_object_per_line() {
    let rows = [context_row(), json!({"b": "<x&y>", "a": 1})];
    let got = render_list("json", CONTEXT_TABLE, &rows, CONTEXT_HEADERS).unwrap();
    assert_eq!(
        got,
        "{\"Current\":true,\"Description\":\"Current DOCKER_HOST based configuration\",\
         \"DockerEndpoint\":\"unix:///var/run/docker.sock\",\"Error\":\"\",\"Name\":\"default\"}\n\
         {\"a\":1,\"b\":\"\\u003cx\\u0026y\\u003e\"}\n"
    );
}

#[test]
fn raw_templates_per_row() {
    let rows = [
        json!({"Repository": "alpine", "Tag": "3.20", "Names": ["a", "b"], "X": "mixed Case",
               "Labels": {"foo": "bar", "com.x": "1"}}),
        json!({"Repository": "busybox", "Tag": "latest", "Names": [], "X": "y", "Labels": {}}),
    ];
    let r = |f: &str| render_list(f, "table {{.Repository}}", &rows, &[]).unwrap();
    assert_eq!(
        r("{{.Repository}}:{{.Tag}}"),
        "alpine:3.20\nbusybox:latest\n"
    );
    assert_eq!(r("{{join .Names \",\"}}"), "a,b\n\n");
    assert_eq!(r("{{upper .X}}"), "MIXED CASE\nY\n");
    assert_eq!(r("{{.Labels.foo}}"), "bar\n<no value>\n");
    assert_eq!(
        r("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}"),
        "com.x=1;foo=bar;\n\n"
    );
    assert_eq!(r("{{.Labels}}"), "map[com.x:1 foo:bar]\nmap[]\n");
    assert_eq!(r("{{.Names}}"), "[a b]\n[]\n");
    assert_eq!(
        r("  {{.Tag}}\\t{{.Repository}}\\n  "),
        "3.20\talpine\n\nlatest\tbusybox\n\n"
    );
    assert_eq!(
        r("{{json .Labels}}"),
        "{\"com.x\":\"1\",\"foo\":\"bar\"}\n{}\n"
    );
}

#[test]
fn render_one_keeps_order_and_builtins_match_docker() {
    let v = json!({
        "Name": "default",
        "Endpoints": {"docker": {"Host": "unix:///var/run/docker.sock", "SkipTLSVerify": false}},
        "Config": {"Z": 1, "A": "<b>"}
    });
    assert_eq!(
        one("{{range $k, $v := .Endpoints}}{{$k}}={{$v.Host}} {{.SkipTLSVerify}}{{end}} {{len .Name}}", &v),
        "docker=unix:///var/run/docker.sock false 7"
    );
    assert_eq!(one("{{json .Config}}", &v), "{\"Z\":1,\"A\":\"<b>\"}");
    assert_eq!(
        one(
            "{{printf \"%q %5.2f|%-4d|%x|%s|%d\" .Name 3.14159 7 \"hi\" 1.5 \"x\"}}",
            &v
        ),
        "\"default\"  3.14|7   |6869|%!s(float64=1.5)|%!d(string=x)"
    );
    assert_eq!(one("{{.Name | len | printf \"%03d\"}}", &v), "007");
    assert_eq!(one("{{print 1 2 \"a\" 3 nil}}", &v), "1 2a3 <nil>");
    assert_eq!(one("{{println \"x\" 1}}", &v), "x 1\n");
    assert_eq!(one("{{slice .Name 1 3}}", &v), "ef");
    assert_eq!(
        one("{{title \"hello wORLD-foo_bar\"}}", &v),
        "Hello WORLD-Foo_bar"
    );
    assert_eq!(one("{{split \"a,b,,c\" \",\"}}", &v), "[a b  c]");
    assert_eq!(one("{{json (split \"a<b\" \",\")}}", &v), "[\"a<b\"]");
    assert_eq!(
        one(
            "{{pad \"x\" 2 1}}|{{pad \"\" 2 1}}|{{truncate \"abcdef\" 3}}",
            &v
        ),
        "  x ||abc"
    );
    assert_eq!(
        one(
            "{{eq 1 2 1}} {{lt \"a\" \"b\"}} {{and 1 0 2}} {{or 0 \"\" \"z\"}} {{not 0}}",
            &v
        ),
        "true true 0 z true"
    );
    assert_eq!(
        one(
            r#"{{html "<a&'\"b>"}} {{js "a'b<"}} {{urlquery "a b&c/d"}}"#,
            &v
        ),
        "&lt;a&amp;&#39;&#34;b&gt; a\\'b\\u003C a+b%26c%2Fd"
    );
    assert_eq!(
        one(
            "{{0x1F}} {{1e3}} {{1.5}} {{-3}} {{'a'}} {{range 3}}{{.}}{{end}}",
            &v
        ),
        "31 1000 1.5 -3 97 012"
    );
    assert_eq!(
        one("{{printf \"%d %s\"}} {{printf \"%s\" 1 2}}", &v),
        "%!d(MISSING) %!s(MISSING) %!s(int=1)%!(EXTRA int=2)"
    );
    assert_eq!(
        one("{{printf \"%6.2e|%g|%G|%+d|% d|%#x|%08.3f|%-8s|%8s|\" 12345.678 0.00001234 1e21 5 5 255 3.14159 \"ab\" \"cd\"}}", &v),
        "1.23e+04|1.234e-05|1E+21|+5| 5|0xff|0003.142|ab      |      cd|"
    );
    assert_eq!(
        one(
            "{{index .Endpoints \"nope\"}}|{{.Endpoints.nope}}|{{.Endpoints.nope.x}}",
            &v
        ),
        "<no value>|<no value>|<no value>"
    );
}

#[test]
fn control_structures_match_docker() {
    let v = json!({"Name": "default"});
    assert_eq!(
        one(
            "{{range $i, $e := split \"a b c\" \" \"}}{{if eq $i 1}}{{continue}}{{end}}{{$i}}{{$e}}{{end}}|\
             {{with $x := \"v\"}}{{$x}}{{end}}|{{define \"T\"}}<{{.}}>{{end}}{{template \"T\" \"arg\"}}|\
             {{block \"B\" 5}}b{{.}}{{end}}|{{- \" trim \" -}}  |{{/* c */}}|{{ 3.0 }}|{{1e6}}|{{0.000001}}",
            &v
        ),
        "0a2c|v|<arg>|b5| trim ||3|1e+06|1e-06"
    );
    assert_eq!(one("{{range .Missing}}x{{else}}empty{{end}}", &v), "empty");
    assert_eq!(
        one(
            "{{range $i, $e := split \"a b c\" \" \"}}{{if eq $i 2}}{{break}}{{end}}{{$e}}{{end}}",
            &v
        ),
        "ab"
    );
    assert_eq!(
        one(
            "{{if .Nope}}a{{else if eq .Name \"default\"}}b{{else}}c{{end}}",
            &v
        ),
        "b"
    );
    assert_eq!(
        one("{{with .Nope}}a{{else with .Name}}{{.}}{{end}}", &v),
        "default"
    );
    assert_eq!(
        one("{{$n := .Name}}{{$n = upper $n}}{{$n}} {{$.Name}}", &v),
        "DEFAULT default"
    );
    assert_eq!(
        one("a  {{- /* trimmed */ -}}  b\n{{- .Name}}", &v),
        "abdefault"
    );
    assert_eq!(one("{{.Name}}\\t{{.Name}}", &v), "default\\tdefault");
}

#[test]
fn errors_are_worded_like_docker() {
    let v = json!({"Name": "default"});
    let e = |t: &str| render_one(t, &v).unwrap_err().to_string();
    assert_eq!(
        e("{{.Name | foo}}"),
        "template parsing error: template: :1: function \"foo\" not defined"
    );
    assert_eq!(
        e("{{if .Name}}"),
        "template parsing error: template: :1: unexpected EOF"
    );
    assert_eq!(
        e("{{.Name}} {{end}}"),
        "template parsing error: template: :1: unexpected {{end}}"
    );
    assert_eq!(
        e("{{.Name.Foo}}"),
        "template parsing error: template: :1:7: executing \"\" at <.Name.Foo>: can't evaluate field Foo in type string"
    );
    assert_eq!(
        e("{{join .Name \",\"}}"),
        "template parsing error: template: :1:7: executing \"\" at <.Name>: wrong type for value; expected []string; got string"
    );
    assert_eq!(
        e("x\n{{index .Name 99}}"),
        "template parsing error: template: :2:2: executing \"\" at <index .Name 99>: error calling index: index out of range: 99"
    );
    assert_eq!(
        e("{{.Name"),
        "template parsing error: template: :1: unclosed action"
    );
    assert_eq!(
        e("{{$x}}"),
        "template parsing error: template: :1: undefined variable \"$x\""
    );
    assert_eq!(
        e("{{break}}"),
        "template parsing error: template: :1: {{break}} outside {{range}}"
    );
    assert_eq!(
        e("{{template \"nope\"}}"),
        "template parsing error: template: :1:11: executing \"\" at <{{template \"nope\"}}>: template \"nope\" not defined"
    );
    assert_eq!(
        e("{{| .Name}}"),
        "template parsing error: template: :1: unexpected \"|\" in command"
    );
    assert_eq!(
        e("{{.Name #}}"),
        "template parsing error: template: :1: unexpected \"#\" in operand"
    );
    assert_eq!(
        e("{{nil}}"),
        "template parsing error: template: :1:2: executing \"\" at <nil>: nil is not a command"
    );
    assert_eq!(
        e("{{\"a\" \"b\"}}"),
        "template parsing error: template: :1:2: executing \"\" at <\"a\">: can't give argument to non-function \"a\""
    );
    assert_eq!(
        e("{{.Name \"b\"}}"),
        "template parsing error: template: :1:2: executing \"\" at <.Name>: Name has arguments but cannot be invoked as function"
    );
    assert_eq!(
        e("{{printf 3}}"),
        "template parsing error: template: :1:9: executing \"\" at <3>: expected string; found 3"
    );
    assert_eq!(
        e("{{pad .Name \"a\" 1}}"),
        "template parsing error: template: :1:12: executing \"\" at <\"a\">: expected integer; found \"a\""
    );
    assert_eq!(
        e("{{range $i, $c := 3}}{{end}}"),
        "template parsing error: template: :1:18: executing \"\" at <3>: can't use 3 to iterate over more than one variable"
    );
    // Go accepts a trailing pipe.
    assert_eq!(one("{{.Name | }}", &v), "default");
    assert!(matches!(
        render_list("{{.A | nope}}", "", &[], &[]),
        Err(FormatError::Parse { line: 1, .. })
    ));
}

#[test]
fn go_json_escapes_html() {
    let v = json!({"b": "<script>&", "a": [1, 2.5, null, true], "c": "\u{1}\"\\"});
    assert_eq!(
        go_json(&v),
        r#"{"b":"\u003cscript\u003e\u0026","a":[1,2.5,null,true],"c":"\u0001\"\\"}"#
    );
    assert_eq!(go_json_unescaped(&json!("<&>")), "\"<&>\"");
}

#[test]
fn template_is_reusable() {
    let t = Template::parse("{{.A}}-{{len .B}}").unwrap();
    assert_eq!(t.execute(&json!({"A": 1, "B": [1, 2]})).unwrap(), "1-2");
    assert_eq!(t.execute(&json!({"A": "x", "B": "abc"})).unwrap(), "x-3");
}

#[test]
fn runaway_template_recursion_is_an_error() {
    let got = render_one(
        "{{define \"a\"}}x{{template \"a\" .}}{{end}}{{template \"a\" .}}",
        &json!({}),
    );
    match got {
        Err(FormatError::Exec { msg, .. }) => assert_eq!(msg, "exceeded maximum template depth"),
        other => panic!("expected a depth error, got {other:?}"),
    }
}

#[test]
fn json_of_a_whole_list_row_is_html_escaped_like_docker() {
    let rows = vec![serde_json::json!({"Tag": "<none>", "Labels": {"a": "<b>"}})];
    let got = render_list("json", "table {{.Tag}}", &rows, &[("Tag", "TAG")]).unwrap();
    assert_eq!(
        got,
        "{\"Labels\":{\"a\":\"\\u003cb\\u003e\"},\"Tag\":\"\\u003cnone\\u003e\"}\n"
    );
    // a field alone goes through docker's json func, which does not escape
    let got = render_list("{{json .Tag}}", "", &rows, &[]).unwrap();
    assert_eq!(got, "\"<none>\"\n");
}
