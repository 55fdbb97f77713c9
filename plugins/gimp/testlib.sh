# Shell helpers shared by the GIMP plug-in tests (test.sh, dist-test.sh); sourced after
# setting work (a temporary folder), out (the output folder), GIMP and, for run_gimp, an
# install_plugin PLUG_IN_FOLDER function. Each test is
#   start NAME; run_gimp NAME SCHEME [LAUNCHER...]; checks (expect, has, absent ...); finish
# and the script ends with report.

# ---- bookkeeping ------------------------------------------------------------------------
passed=0
failed=0
start() { name=$1; bad=0; }
problem() { echo "    $*"; bad=1; }
finish() {
    if [ "$bad" -eq 0 ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name (GIMP's output: $log)"
        failed=$((failed + 1))
        [ -n "${KEEP:-}" ] || sed 's/^/      | /' "$log" | grep -v 'GEGL\|GeglBuffers' | tail -40
    fi
}
# result KEY: the text after "FLXTEST KEY " in the log (the first such line).
result() { grep -o "FLXTEST $1 .*" "$log" | head -n1 | sed "s/^FLXTEST $1 //"; }
expect() { # expect KEY VALUE-PATTERN
    got=$(result "$1")
    case $got in
        $2) ;;
        *) problem "$1: got '$got', expected '$2'" ;;
    esac
}
has() { grep -q -- "$1" "$log" || problem "GIMP's output lacks '$1'"; }
hasnt() { if grep -q -- "$1" "$log"; then problem "GIMP's output contains '$1'"; fi; }
absent() { [ ! -e "$1" ] || problem "$1 exists but should not"; }
magic() { # the format the first bytes of FILE announce
    h=$(od -An -tx1 -N12 "$1" 2> /dev/null | tr -d ' \n')
    case $h in
        52494646????????57454250) echo webp ;;
        ????????6674797061766966 | ????????6674797061766973) echo avif ;;
        ffd8ff*) echo jpg ;;
        89504e470d0a1a0a*) echo png ;;
        *) echo unknown ;;
    esac
}
size() { wc -c < "$1" | tr -d ' '; }
no_leftovers() { # no temporary file of the library in OUT, nor of the plug-in in TMPDIR
    for f in "$out"/.*.flx-tmp; do [ -e "$f" ] && problem "temporary file left: $f"; done
    for f in "$TMPDIR"/fluximage-gimp-*; do [ -e "$f" ] && problem "temporary folder left: $f"; done
}

# ---- running GIMP -----------------------------------------------------------------------
# A fresh profile per run; the calling script's install_plugin PLUG_IN_FOLDER puts the plug-in
# in it.
new_profile() {
    export HOME=$work/home-$1
    rm -rf "$HOME"
    profile=$HOME/.config/GIMP/2.10
    for d in plug-ins brushes dynamics fonts gradients palettes patterns \
        tool-presets scripts; do
        mkdir -p "$profile/$d"
    done
    install_plugin "$profile/plug-ins"
    if [ -n "${GIMPRC_LINE:-}" ]; then printf '%s\n' "$GIMPRC_LINE" >> "$profile/gimprc"; fi
}

# Script-Fu helpers shared by every run.
cat > "$work/prelude.scm" <<'EOF'
(define (say . parts) (gimp-message (apply string-append "FLXTEST " parts)))
(define (num n) (number->string n))

; A photo-like test image: plasma noise, plus a translucent layer with a red ellipse.
(define (make-test-image w h)
  (let* ((img (car (gimp-image-new w h RGB)))
         (bg (car (gimp-layer-new img w h RGB-IMAGE "photo" 100 LAYER-MODE-NORMAL)))
         (top (car (gimp-layer-new img w h RGBA-IMAGE "overlay" 60 LAYER-MODE-NORMAL))))
    (gimp-image-insert-layer img bg 0 0)
    (plug-in-plasma RUN-NONINTERACTIVE img bg 7 2.5)
    (gimp-image-insert-layer img top 0 -1)
    (gimp-drawable-fill top FILL-TRANSPARENT)
    (gimp-image-select-ellipse img CHANNEL-OP-REPLACE (/ w 4) (/ h 4) (/ w 2) (/ h 2))
    (gimp-context-set-foreground '(200 40 40))
    (gimp-drawable-edit-fill top FILL-FOREGROUND)
    (gimp-selection-none img)
    img))

; The plain PNG export to compare with: visible layers merged, compression level 9.
(define (plain-png img file)
  (let* ((dup (car (gimp-image-duplicate img)))
         (layer (car (gimp-image-merge-visible-layers dup CLIP-TO-IMAGE))))
    (file-png-save2 RUN-NONINTERACTIVE dup layer file file 0 9 0 0 0 0 0 0 0)
    (gimp-image-delete dup)))

; Calls the plug-in in RUN-MODE: "ok IN OUT" (its two return values), "cancelled"
; (GIMP_PDB_CANCEL, which Script-Fu returns as (#f)) or "error" (the procedure failed; GIMP
; prints its message).
(define (flx-run run-mode img file fmt quality max-w max-h)
  (catch "error"
    (let ((r (plug-in-fluximage-export run-mode img (car (gimp-image-get-active-drawable img))
                                       file fmt quality max-w max-h)))
      (cond ((and (pair? r) (pair? (cdr r)))
             (string-append "ok " (num (car r)) " " (num (cadr r))))
            ((equal? r '(#f)) "cancelled")
            (else "unexpected")))))
(define (flx-export img file fmt quality max-w max-h)
  (flx-run RUN-NONINTERACTIVE img file fmt quality max-w max-h))

; The procedure with the AI options: "ok IN OUT FILE|ALT-TEXT", or "error".
(define (flx-export-ai img file fmt alt seo)
  (catch "error"
    (let ((r (plug-in-fluximage-export-ai RUN-NONINTERACTIVE img
                                          (car (gimp-image-get-active-drawable img))
                                          file fmt 82 0 0 alt seo)))
      (string-append "ok " (num (car r)) " " (num (cadr r)) " " (list-ref r 2) "|" (list-ref r 3)))))

; Loads FILE in GIMP: "W H" or "failed".
(define (decode file)
  (catch "failed"
    (let* ((img (car (gimp-file-load RUN-NONINTERACTIVE file file)))
           (s (string-append (num (car (gimp-image-width img))) " "
                             (num (car (gimp-image-height img))))))
      (gimp-image-delete img)
      s)))
EOF

# run_gimp NAME SCHEME-BODY [LAUNCHER...]: a fresh profile, then GIMP runs the prelude and the
# body; the log is $log. A launcher (xvfb-run) may wrap GIMP.
run_gimp() {
    rname=$1
    body=$2
    shift 2
    new_profile "$rname"
    printf '%s\n' "$body" > "$work/$rname.scm"
    log=$work/$rname.log
    timeout 300 "$@" "$GIMP" -i -d -f \
        -b "(begin (load \"$work/prelude.scm\") (load \"$work/$rname.scm\") (say \"end\" \" alive\"))" \
        -b '(gimp-quit 0)' > "$log" 2>&1
    gimp_status=$?
}
gimp_ok() { # GIMP ran the whole script and exited normally (no crash, no hang)
    [ "$gimp_status" -eq 0 ] || problem "GIMP exited with status $gimp_status"
    expect end alive
}

# The last line of a test script: "N passed, M failed", and its exit status.
report() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
