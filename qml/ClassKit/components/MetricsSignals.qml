import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// The stop signals recorded with one round: the values behind each verdict.
ColumnLayout {
    id: sig
    property var details: ({})
    readonly property var s: details.signals || ({})
    readonly property var plateau: s.val_plateau || ({})
    readonly property var audit: s.audit_agreement || ({})
    readonly property var novelty: s.novelty || ({})
    objectName: "stopSignals"
    spacing: 4

    function num(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits) }
    function list(values) { return (values || []).map(v => Number(v).toFixed(3)).join(", ") || "none yet" }

    component SignalRow: RowLayout {
        property string name
        property string verdict
        property bool met
        property string values
        Layout.fillWidth: true
        spacing: Theme.spacing
        Rectangle { width: 10; height: 10; radius: 5; color: parent.met ? Theme.success : Theme.border }
        Label { text: parent.name; color: Theme.text; font.bold: true; Layout.preferredWidth: 130 }
        Label { text: parent.verdict; color: parent.met ? Theme.success : Theme.mutedText
                Layout.preferredWidth: 150 }
        Label { text: parent.values; color: Theme.text; Layout.fillWidth: true; wrapMode: Text.WordWrap }
    }

    Label {
        text: "Stop signals at this round: " + (sig.s.suggest_stop ? "all three say more labels add little"
                                                                   : "keep labeling")
        font.bold: true; color: sig.s.suggest_stop ? Theme.success : Theme.text
    }
    SignalRow {
        objectName: "signalPlateau"
        name: "Validation plateau"
        met: !!sig.plateau.plateau
        verdict: sig.plateau.gain === null || sig.plateau.gain === undefined
                 ? "needs " + ((sig.plateau.window || 3) + 1) + " rounds" : (met ? "plateau" : "still improving")
        values: "macro F1 of recent rounds: " + sig.list(sig.plateau.values) + " · gain over the last "
                + (sig.plateau.window || 0) + ": " + sig.num(sig.plateau.gain, 4) + " (plateau under "
                + sig.num(sig.plateau.eps, 3) + ")"
    }
    SignalRow {
        objectName: "signalAudit"
        name: "Audit agreement"
        met: !!sig.audit.stable
        verdict: sig.audit.latest === null || sig.audit.latest === undefined
                 ? "no labeled audits yet" : (met ? "stable" : "not stable yet")
        values: "latest " + sig.num(sig.audit.latest, 3) + " · per batch: "
                + ((sig.audit.batches || []).map(b => "#" + b.batch + " " + Number(b.agreement).toFixed(2)
                                                  + " (" + b.labeled + ")").join(", ") || "none")
                + " · change " + sig.num(sig.audit.change, 3) + " (stable under " + sig.num(sig.audit.tol, 2)
                + ", needs " + (sig.audit.min_items || 0) + " audits per batch)"
    }
    SignalRow {
        objectName: "signalNovelty"
        name: "Novelty"
        met: !!sig.novelty.dropping
        verdict: sig.novelty.ratio === null || sig.novelty.ratio === undefined
                 ? "needs 2 batches" : (met ? "dropping" : "new batches still new")
        values: "mean distance of batch picks to the labeled set: " + sig.list(sig.novelty.values)
                + " · latest / first " + sig.num(sig.novelty.ratio, 3) + " (dropping under "
                + sig.num(sig.novelty.drop, 2) + ")"
    }
}
