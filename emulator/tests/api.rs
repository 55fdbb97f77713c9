//! Keys, plans, usage, field validation, credits, multipart, downloads and answer shapes.

mod common;

use std::time::Duration;

use common::*;
use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig, Encode, Shape};

const UNAUTHORIZED: &str = r#"{ "error": "Unauthorized" }"#;

fn assert_401(r: &Resp) {
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), UNAUTHORIZED);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

fn tiny_form() -> Form {
    Form::new().file("a.png", &photo_png(16, 12))
}

#[test]
fn builtin_keys_are_the_documented_ones() {
    assert_eq!(
        builtin_key("free"),
        "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"
    );
    assert_eq!(
        builtin_key("starter"),
        "flx_live_779cc5409832a78cdfe6728ad20b037afae98d3d"
    );
    assert_eq!(
        builtin_key("pro"),
        "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a065"
    );
    assert_eq!(
        builtin_key("agency"),
        "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"
    );
}

#[test]
fn missing_key_is_401_exact_body() {
    let emu = start_default();
    let base = emu.base_url();
    assert_401(&request(&base, "GET", "/api/usage", &[], b""));
    let body = tiny_form().build();
    let ct = content_type();
    assert_401(&request(
        &base,
        "POST",
        "/api/compress",
        &[("Content-Type", &ct)],
        &body,
    ));
}

#[test]
fn malformed_key_is_401() {
    let emu = start_default();
    let base = emu.base_url();
    for auth in [
        "Bearer flx_live_abc",
        "Bearer flx_live_2d66ab250124b9f72713a4575147eca36d2adb1z",
        "Bearer flx_test_2d66ab250124b9f72713a4575147eca36d2adb18",
        "Basic flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3",
        "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3",
        "Bearer",
    ] {
        assert_401(&usage(&base, auth));
        assert_401(&compress_with(&base, auth, &tiny_form().build()));
    }
}

#[test]
fn unknown_key_is_401() {
    let emu = start_default();
    let auth = "Bearer flx_live_0000000000000000000000000000000000000000";
    assert_401(&usage(&emu.base_url(), auth));
    assert_401(&compress_with(&emu.base_url(), auth, &tiny_form().build()));
}

#[test]
fn rolled_key_is_401() {
    let emu = start(EmulatorConfig {
        rolled: vec![builtin_key("pro").to_string()],
        ..Default::default()
    });
    let auth = format!("Bearer {}", builtin_key("pro"));
    assert_401(&usage(&emu.base_url(), &auth));
    assert_401(&compress_with(&emu.base_url(), &auth, &tiny_form().build()));
    // Other keys still work.
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
}

#[test]
fn every_plan_may_call_the_api_by_default() {
    let emu = start_default();
    for plan in ["free", "starter", "pro", "agency"] {
        let r = usage(&emu.base_url(), &format!("Bearer {}", builtin_key(plan)));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["plan"], plan);
    }
}

#[test]
fn agency_only_gives_403_to_other_plans() {
    let emu = start(EmulatorConfig {
        agency_only: true,
        ..Default::default()
    });
    for plan in ["free", "starter", "pro"] {
        let auth = format!("Bearer {}", builtin_key(plan));
        let r = usage(&emu.base_url(), &auth);
        assert_eq!(r.status, 403);
        assert_eq!(r.error(), "API access requires the Agency plan");
        assert_eq!(
            compress_with(&emu.base_url(), &auth, &tiny_form().build()).status,
            403
        );
    }
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
}

#[test]
fn usage_fields_and_plan_limits() {
    let emu = start_default();
    let expect = [
        ("free", 20, 0, false),
        ("starter", 200, 200, true),
        ("pro", 99_999, 1_000, true),
        ("agency", 99_999, 10_000, true),
    ];
    for (plan, limit, ai, can_ia) in expect {
        let r = usage(&emu.base_url(), &format!("Bearer {}", builtin_key(plan)));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let u = r.json();
        let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
        for k in [
            "plan",
            "compressor_used",
            "compressor_limit",
            "ia_credits_used",
            "ia_credits_monthly",
            "ia_topup_credits",
            "ia_credits_remaining",
            "canCompress",
            "canUseIA",
            "topups",
        ] {
            assert!(u.get(k).is_some(), "missing {k} in {keys:?}");
        }
        assert_eq!(u.as_object().unwrap().len(), 10);
        assert_eq!(u["compressor_used"], 0);
        assert_eq!(u["compressor_limit"], limit);
        assert_eq!(u["ia_credits_monthly"], ai);
        assert_eq!(u["ia_credits_remaining"], ai);
        assert_eq!(u["canCompress"], true);
        assert_eq!(u["canUseIA"], can_ia);
        for t in ["small", "medium", "large"] {
            assert!(u["topups"][t].is_string());
        }
    }
}

#[test]
fn usage_arithmetic_and_counting() {
    let key = "flx_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"pro","compressor_used":45,"ia_credits_used":120,"ia_topup_credits":200}}]"#
    ));
    let emu = start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    let auth = format!("Bearer {key}");
    let u = usage(&emu.base_url(), &auth).json();
    assert_eq!(u["plan"], "pro");
    assert_eq!(u["compressor_used"], 45);
    assert_eq!(u["ia_credits_used"], 120);
    assert_eq!(u["ia_topup_credits"], 200);
    assert_eq!(u["ia_credits_remaining"], 1080);
    // Two images with alt text and SEO rename: 2 compressions, 2 AI credits (not 4).
    let body = Form::new()
        .file("a.png", &photo_png(16, 12))
        .file("b.png", &photo_png(12, 16))
        .field("altText", "true")
        .field("seoRename", "true")
        .build();
    assert_eq!(compress_with(&emu.base_url(), &auth, &body).status, 200);
    let u = usage(&emu.base_url(), &auth).json();
    assert_eq!(u["compressor_used"], 47);
    assert_eq!(u["ia_credits_used"], 122);
    assert_eq!(u["ia_credits_remaining"], 1078);
    let stats = emu.stats();
    assert_eq!(stats["credits"][key]["compress"], 2);
    assert_eq!(stats["credits"][key]["ai"], 2);
    assert_eq!(stats["requests"]["usage"], 2);
    assert_eq!(stats["requests"]["compress"], 1);
}

#[test]
fn topup_credits_are_used_after_monthly_ones() {
    let key = "flx_live_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"starter","ia_credits_used":199,"ia_topup_credits":5}}]"#
    ));
    let emu = start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    let auth = format!("Bearer {key}");
    let body = Form::new()
        .file("a.png", &photo_png(8, 8))
        .file("b.png", &photo_png(8, 8))
        .field("altText", "true")
        .build();
    assert_eq!(compress_with(&emu.base_url(), &auth, &body).status, 200);
    let u = usage(&emu.base_url(), &auth).json();
    assert_eq!(u["ia_credits_used"], 200);
    assert_eq!(u["ia_topup_credits"], 4);
    assert_eq!(u["ia_credits_remaining"], 4);
    assert_eq!(u["canUseIA"], true);
}

#[test]
fn compression_credits_used_up_is_402() {
    let key = "flx_live_cccccccccccccccccccccccccccccccccccccccc";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"free","compressor_used":19}}]"#
    ));
    let emu = start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    let auth = format!("Bearer {key}");
    let two = Form::new()
        .file("a.png", &photo_png(8, 8))
        .file("b.png", &photo_png(8, 8))
        .build();
    let r = compress_with(&emu.base_url(), &auth, &two);
    assert_eq!(r.status, 402);
    assert_eq!(
        r.error(),
        "compression credits used up for this billing period"
    );
    assert_eq!(usage(&emu.base_url(), &auth).json()["compressor_used"], 19);
    assert_eq!(
        compress_with(&emu.base_url(), &auth, &tiny_form().build()).status,
        200
    );
    let u = usage(&emu.base_url(), &auth).json();
    assert_eq!(u["compressor_used"], 20);
    assert_eq!(u["canCompress"], false);
    assert_eq!(
        compress_with(&emu.base_url(), &auth, &tiny_form().build()).status,
        402
    );
}

#[test]
fn pro_is_really_capped_at_50000() {
    let key = "flx_live_dddddddddddddddddddddddddddddddddddddddd";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"pro","compressor_used":50000}}]"#
    ));
    let emu = start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    let auth = format!("Bearer {key}");
    let u = usage(&emu.base_url(), &auth).json();
    assert_eq!(u["compressor_limit"], 99_999);
    assert_eq!(u["canCompress"], false);
    assert_eq!(
        compress_with(&emu.base_url(), &auth, &tiny_form().build()).status,
        402
    );
}

#[test]
fn ai_credits_used_up_is_402() {
    let key = "flx_live_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"starter","ia_credits_used":200}}]"#
    ));
    let emu = start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    let auth = format!("Bearer {key}");
    assert_eq!(usage(&emu.base_url(), &auth).json()["canUseIA"], false);
    for field in ["altText", "seoRename"] {
        let body = tiny_form().field(field, "true").build();
        let r = compress_with(&emu.base_url(), &auth, &body);
        assert_eq!(r.status, 402);
        assert_eq!(r.error(), "AI credits used up for this billing period");
    }
    // Without AI it still works, and nothing was charged by the refused requests.
    assert_eq!(
        compress_with(&emu.base_url(), &auth, &tiny_form().build()).status,
        200
    );
    assert_eq!(usage(&emu.base_url(), &auth).json()["compressor_used"], 1);
}

#[test]
fn free_plan_watermark_is_403() {
    let emu = start_default();
    let auth = format!("Bearer {}", builtin_key("free"));
    let body = tiny_form().watermark(&watermark_png()).build();
    let r = compress_with(&emu.base_url(), &auth, &body);
    assert_eq!(r.status, 403);
    assert!(r.error().contains("watermark"), "{}", r.error());
}

#[test]
fn free_plan_ai_is_403() {
    let emu = start_default();
    let auth = format!("Bearer {}", builtin_key("free"));
    for field in ["altText", "seoRename"] {
        let r = compress_with(
            &emu.base_url(),
            &auth,
            &tiny_form().field(field, "true").build(),
        );
        assert_eq!(r.status, 403);
        assert!(r.error().contains("AI"), "{}", r.error());
    }
    // altText=false is fine on free.
    let r = compress_with(
        &emu.base_url(),
        &auth,
        &tiny_form().field("altText", "false").build(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(usage(&emu.base_url(), &auth).json()["compressor_used"], 1);
}

#[test]
fn more_than_20_files_is_413() {
    let emu = start_default();
    let png = photo_png(4, 4);
    let mut form = Form::new();
    for i in 0..21 {
        form = form.file(&format!("f{i}.png"), &png);
    }
    let r = compress(&emu.base_url(), form);
    assert_eq!(r.status, 413);
    assert_eq!(r.error(), "at most 20 files per request");
    // Exactly 20 is fine.
    let mut form = Form::new();
    for i in 0..20 {
        form = form.file(&format!("f{i}.png"), &png);
    }
    let r = compress(&emu.base_url(), form);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 20);
}

#[test]
fn file_over_20_mb_is_413() {
    let emu = start(EmulatorConfig {
        encode: Encode::None,
        ..Default::default()
    });
    let big = vec![7u8; 20 * 1024 * 1024 + 1];
    let r = compress(&emu.base_url(), Form::new().file("big.png", &big));
    assert_eq!(r.status, 413);
    assert!(r.error().contains("20 MB"), "{}", r.error());
    // Exactly 20 MiB is accepted.
    let ok = vec![7u8; 20 * 1024 * 1024];
    assert_eq!(
        compress(&emu.base_url(), Form::new().file("ok.bin", &ok)).status,
        200
    );
    // Nothing was charged for the refused request.
    assert_eq!(emu.stats()["credits"][builtin_key("agency")]["compress"], 1);
}

#[test]
fn request_over_the_body_bound_is_413() {
    let emu = start_default();
    let mut c = Conn::open(&emu.base_url());
    let auth = agency();
    let ct = content_type();
    // Announce a body larger than 20 files of 20 MB; the server refuses without reading it.
    c.send(
        "POST",
        "/api/compress",
        &[
            ("Authorization", &auth),
            ("Content-Type", &ct),
            ("Content-Length", "500000000"),
        ],
        b"",
    )
    .unwrap();
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 413);
}

#[test]
fn no_file_is_400() {
    let emu = start_default();
    let r = compress(&emu.base_url(), Form::new().field("format", "webp"));
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "no file");
}

#[test]
fn bad_field_values_are_400_naming_the_field() {
    let emu = start_default();
    let cases = [
        ("format", "gif"),
        ("format", "JPEG"),
        ("format", ""),
        ("quality", "39"),
        ("quality", "101"),
        ("quality", "abc"),
        ("quality", "-1"),
        ("maxWidth", "0"),
        ("maxWidth", "-5"),
        ("maxWidth", "wide"),
        ("maxHeight", "0"),
        ("maxHeight", "1.5"),
        ("watermarkScale", "4"),
        ("watermarkScale", "51"),
        ("watermarkOpacity", "101"),
        ("watermarkOpacity", "-1"),
        ("watermarkPosition", "XX"),
        ("watermarkPosition", "bottom"),
        ("altText", "yes"),
        ("seoRename", "1"),
    ];
    for (field, value) in cases {
        let r = compress(&emu.base_url(), tiny_form().field(field, value));
        assert_eq!(r.status, 400, "{field}={value}: {}", r.text());
        assert!(r.error().contains(field), "{field}={value}: {}", r.error());
    }
    let r = compress(&emu.base_url(), tiny_form().field("quality", "39"));
    assert_eq!(r.error(), "quality must be between 40 and 100");
    // Nothing was charged.
    assert_eq!(emu.stats()["credits"][builtin_key("agency")]["compress"], 0);
}

#[test]
fn boundary_values_are_accepted() {
    let emu = start_default();
    for (field, value) in [
        ("quality", "40"),
        ("quality", "100"),
        ("maxWidth", "1"),
        ("maxHeight", "1"),
        ("watermarkScale", "5"),
        ("watermarkScale", "50"),
        ("watermarkOpacity", "0"),
        ("watermarkOpacity", "100"),
        ("watermarkPosition", "TL"),
        ("watermarkPosition", "MC"),
        ("altText", "false"),
        ("seoRename", "false"),
        ("sessionId", "my-session"),
        ("unknownField", "ignored"),
    ] {
        let r = compress(&emu.base_url(), tiny_form().field(field, value));
        assert_eq!(r.status, 200, "{field}={value}: {}", r.text());
    }
}

#[test]
fn watermark_must_be_png() {
    let emu = start_default();
    let r = compress(&emu.base_url(), tiny_form().watermark(b"GIF89a not a png"));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("watermarkFile"));
}

#[test]
fn malformed_multipart_is_400() {
    let emu = start_default();
    let base = emu.base_url();
    let auth = agency();
    let good = tiny_form().build();
    let ct = content_type();
    let truncated = &good[..good.len() / 2];
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("multipart/form-data".into(), good.clone()),
        ("application/json".into(), b"{}".to_vec()),
        (String::new(), good.clone()),
        (ct.clone(), truncated.to_vec()),
        (ct.clone(), b"garbage without any boundary".to_vec()),
        (ct.clone(), Vec::new()),
        (
            ct.clone(),
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\r\n\r\nxx\r\n--{BOUNDARY}--\r\n").into_bytes(),
        ),
        (
            ct.clone(),
            format!("--{BOUNDARY}\r\nX-Nothing: here\r\n\r\nxx\r\n--{BOUNDARY}--\r\n").into_bytes(),
        ),
        (
            "multipart/form-data; boundary=other".into(),
            good.clone(),
        ),
    ];
    for (ctype, body) in cases {
        let mut headers = vec![("Authorization", auth.as_str())];
        if !ctype.is_empty() {
            headers.push(("Content-Type", ctype.as_str()));
        }
        let r = request(&base, "POST", "/api/compress", &headers, &body);
        assert_eq!(r.status, 400, "{ctype}: {}", r.text());
        assert!(!r.error().is_empty());
    }
    // Still alive and well.
    assert_eq!(compress(&base, tiny_form()).status, 200);
}

#[test]
fn file_names_escaped_and_rfc5987() {
    let emu = start_default();
    let png = photo_png(8, 8);
    let form = Form::new()
        .raw_file("file", r#"filename="a\"b\\c.png""#, &png)
        .raw_file(
            "file",
            r#"filename="___.png"; filename*=UTF-8''%C3%A9t%C3%A9%20%E2%82%AC.png"#,
            &png,
        )
        .raw_file("file", r#"filename="plain name.photo.jpeg""#, &png)
        .raw_file("file", r#"filename="noext""#, &png);
    let r = compress(&emu.base_url(), form.field("format", "jpg"));
    let results = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["originalName"], "a\"b\\c.png");
    assert_eq!(results[0]["name"], "a\"b\\c.jpg");
    assert_eq!(results[1]["originalName"], "été €.png");
    assert_eq!(results[1]["name"], "été €.jpg");
    assert_eq!(results[2]["name"], "plain name.photo.jpg");
    assert_eq!(results[3]["name"], "noext.jpg");
    // Every URL works, whatever the name.
    for e in &results {
        let bytes = fetch(e["url"].as_str().unwrap());
        assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    }
}

#[test]
fn reference_shape_entries_in_upload_order() {
    let emu = start_default();
    let form = Form::new()
        .file("one.png", &photo_png(30, 20))
        .file("broken.jpg", b"definitely not a jpeg")
        .file("three.png", &photo_png(20, 30))
        .field("sessionId", "s_mine");
    let r = compress(&emu.base_url(), form);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["sessionId"], "s_mine");
    let res = v["results"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["originalName"], "one.png");
    assert_eq!(res[0]["name"], "one.webp");
    assert_eq!(res[0]["format"], "webp");
    assert_eq!(res[0]["width"], 30);
    assert_eq!(res[0]["height"], 20);
    assert_eq!(res[0]["altText"], serde_json::Value::Null);
    assert_eq!(res[0]["seoName"], serde_json::Value::Null);
    assert!(res[0]["size"].as_u64().unwrap() > 0);
    assert_eq!(res[0]["originalSize"], photo_png(30, 20).len());
    let exp = res[0]["expiresAt"].as_str().unwrap();
    assert_eq!(exp.len(), 20);
    assert!(exp.ends_with('Z') && exp.as_bytes()[10] == b'T');
    assert!(res[0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/d/", emu.download_url())));
    assert_eq!(
        res[1],
        serde_json::json!({"originalName": "broken.jpg", "error": "cannot decode image"})
    );
    assert_eq!(res[2]["originalName"], "three.png");
    // Only the two good images were charged.
    assert_eq!(emu.stats()["credits"][builtin_key("agency")]["compress"], 2);
    // Without a sessionId one is made up.
    let v = compress(&emu.base_url(), tiny_form()).json();
    assert!(v["sessionId"].as_str().unwrap().starts_with("s_"));
}

#[test]
fn alt_shape() {
    let emu = start(EmulatorConfig {
        shape: Shape::Alt,
        ttl: Duration::from_secs(600),
        ..Default::default()
    });
    let form = Form::new()
        .file("cat.png", &photo_png(24, 16))
        .file("broken.jpg", b"nope")
        .field("altText", "true")
        .field("sessionId", "abc");
    let v = compress(&emu.base_url(), form).json();
    assert_eq!(v["session_id"], "abc");
    let d = v["data"].as_array().unwrap();
    assert_eq!(d[0]["original_filename"], "cat.png");
    assert_eq!(d[0]["filename"], "cat.webp");
    assert!(d[0]["original_size"].as_u64().unwrap() > 0);
    assert!(d[0]["compressed_size"].as_u64().unwrap() > 0);
    assert_eq!(d[0]["width"], 24);
    assert_eq!(d[0]["expires_in"], 600);
    assert!(d[0]["alt_text"].as_str().unwrap().contains("24×16"));
    assert_eq!(d[0]["seo_name"], serde_json::Value::Null);
    assert_eq!(d[1]["original_filename"], "broken.jpg");
    assert_eq!(d[1]["error"], "cannot decode image");
    assert!(v.get("results").is_none());
    let bytes = fetch(d[0]["download_url"].as_str().unwrap());
    assert_eq!(
        bytes.len() as u64,
        d[0]["compressed_size"].as_u64().unwrap()
    );
}

#[test]
fn passthrough_returns_identical_bytes() {
    let emu = start(EmulatorConfig {
        encode: Encode::None,
        ..Default::default()
    });
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let png = photo_png(10, 10);
    let form = Form::new()
        .file("x.bin", &data)
        .file("y.png", &png)
        .field("format", "avif");
    let v = compress(&emu.base_url(), form).json();
    let r = &v["results"];
    assert_eq!(r[0]["name"], "x.avif");
    assert_eq!(r[0]["size"], 5000);
    assert_eq!(fetch(r[0]["url"].as_str().unwrap()), data);
    let got = get(r[1]["url"].as_str().unwrap(), &[]);
    assert_eq!(got.body, png);
    assert_eq!(got.header("content-type"), Some("image/png"));
}

#[test]
fn download_needs_no_key_and_has_type_and_length() {
    let emu = start_default();
    let e = first(&compress(
        &emu.base_url(),
        tiny_form().field("format", "png"),
    ));
    let r = get(e["url"].as_str().unwrap(), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("content-length").unwrap(), e["size"].to_string());
    assert_eq!(emu.stats()["authorization_seen"]["download"], 0);
    // A client that (wrongly) sends its key to the download origin is seen.
    let auth = agency();
    let r = get(e["url"].as_str().unwrap(), &[("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    assert_eq!(emu.stats()["authorization_seen"]["download"], 1);
    // HEAD works too.
    let (origin, path) = split_url(e["url"].as_str().unwrap());
    let r = request(&origin, "HEAD", &path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").unwrap(), e["size"].to_string());
}

#[test]
fn bad_signature_is_403() {
    let emu = start_default();
    let e = first(&compress(&emu.base_url(), tiny_form()));
    let url = e["url"].as_str().unwrap();
    let (base, query) = url.split_once('?').unwrap();
    let mut sig_flipped = url.to_string();
    let last = sig_flipped.pop().unwrap();
    sig_flipped.push(if last == '0' { '1' } else { '0' });
    let exp: u64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("exp="))
        .unwrap()
        .parse()
        .unwrap();
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .unwrap();
    for bad in [
        sig_flipped,
        base.to_string(),
        format!("{base}?exp={exp}"),
        format!("{base}?sig={sig}"),
        format!("{base}?exp={}&sig={sig}", exp + 1000),
        format!("{}?{query}", base.replace(".webp", ".png")),
        format!("{base}?exp={exp}&sig=zz"),
    ] {
        let r = get(&bad, &[]);
        assert_eq!(r.status, 403, "{bad}: {}", r.text());
    }
    assert_eq!(get(url, &[]).status, 200);
}

#[test]
fn deleted_result_is_404() {
    let emu = start_default();
    let e = first(&compress(&emu.base_url(), tiny_form()));
    assert_eq!(emu.delete_results(), 1);
    assert_eq!(get(e["url"].as_str().unwrap(), &[]).status, 404);
    assert_eq!(
        get(&format!("{}/nothing", emu.download_url()), &[]).status,
        404
    );
}

#[test]
fn expired_result_is_410_after_ttl() {
    let emu = start(EmulatorConfig {
        ttl: Duration::from_secs(1),
        ..Default::default()
    });
    let e = first(&compress(&emu.base_url(), tiny_form()));
    let url = e["url"].as_str().unwrap().to_string();
    assert_eq!(get(&url, &[]).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    let r = get(&url, &[]);
    assert_eq!(r.status, 410, "{}", r.text());
    // And the result was deleted.
    assert_eq!(emu.stats()["results_stored"], 0);
}

#[test]
fn expires_at_is_creation_plus_ttl() {
    let emu = start(EmulatorConfig {
        ttl: Duration::from_secs(900),
        ..Default::default()
    });
    let e = first(&compress(&emu.base_url(), tiny_form()));
    let url = e["url"].as_str().unwrap();
    let exp: u64 = url
        .split("exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(exp >= now + 899 && exp <= now + 901, "{exp} vs {now}");
}

#[test]
fn unknown_paths_and_methods() {
    let emu = start_default();
    let base = emu.base_url();
    assert_eq!(request(&base, "GET", "/nope", &[], b"").status, 404);
    assert_eq!(request(&base, "GET", "/api/compress", &[], b"").status, 405);
    assert_eq!(request(&base, "POST", "/api/usage", &[], b"x").status, 405);
    // Control endpoints are off by default.
    assert_eq!(
        request(&base, "GET", "/__control/stats", &[], b"").status,
        404
    );
    assert_eq!(
        request(&base, "POST", "/__control/fault", &[], br#"{"mode":"503"}"#).status,
        404
    );
    assert_eq!(usage(&base, &agency()).status, 200);
}

#[test]
fn control_endpoints() {
    let emu = start(EmulatorConfig {
        control: true,
        ..Default::default()
    });
    let base = emu.base_url();
    let r = request(
        &base,
        "POST",
        "/__control/fault",
        &[],
        br#"{"mode":"503","count":2,"path":"usage","retry_after":7}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..2 {
        let r = usage(&base, &agency());
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("7"));
    }
    assert_eq!(usage(&base, &agency()).status, 200);
    assert_eq!(compress(&base, tiny_form()).status, 200);
    let stats = request(&base, "GET", "/__control/stats", &[], b"").json();
    assert_eq!(stats, emu.stats());
    assert_eq!(stats["requests"]["usage"], 3);
    assert_eq!(stats["requests"]["compress"], 1);
    assert_eq!(stats["faults_applied"], 2);
    assert_eq!(stats["credits"][builtin_key("agency")]["compress"], 1);
    for k in ["api", "download", "foreign"] {
        assert!(stats["connections"][k].is_u64());
    }
    assert!(stats["tls_handshakes"].is_u64());
    assert!(stats["authorization_seen"]["foreign"].is_u64());
    // Bad fault JSON.
    assert_eq!(
        request(&base, "POST", "/__control/fault", &[], b"{nope").status,
        400
    );
    assert_eq!(
        request(
            &base,
            "POST",
            "/__control/fault",
            &[],
            br#"{"mode":"teapot"}"#
        )
        .status,
        400
    );
    // Reset clears faults, statistics and usage.
    request(
        &base,
        "POST",
        "/__control/fault",
        &[],
        br#"{"mode":"502","count":5}"#,
    );
    assert_eq!(
        request(&base, "POST", "/__control/reset", &[], b"").status,
        200
    );
    assert_eq!(usage(&base, &agency()).json()["compressor_used"], 0);
    let stats = emu.stats();
    assert_eq!(stats["requests"]["usage"], 1);
    assert_eq!(stats["requests"]["compress"], 0);
    assert_eq!(stats["faults_applied"], 0);
    assert_eq!(stats["credits"][builtin_key("agency")]["compress"], 0);
}

#[test]
fn start_fails_cleanly_on_bad_keys_file() {
    let f = keys_file("not json");
    let r = Emulator::start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    });
    assert!(r.is_err());
    let f =
        keys_file(r#"[{"key":"flx_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","plan":"gold"}]"#);
    assert!(Emulator::start(EmulatorConfig {
        keys_file: Some(f.0.clone()),
        ..Default::default()
    })
    .is_err());
}
