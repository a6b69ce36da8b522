"""Texts of the signing screen (告知承诺 and 签名), of declaring instead of a proof, and of an expired QR code."""

COMMITMENT: dict[str, tuple[str, str]] = {
    "signTitle": ("签名确认", "Sign your promise"),
    "signHint": ("请用手指在下面的白框里写上您的名字", "Write your name with your finger in the white box below"),
    "signVoice": ("请看一下承诺的内容，然后用手指在白框里签上您的名字，写好后点确认签名并提交",
                  "Read the promise, then sign your name with your finger in the white box and tap Confirm and submit"),
    "signHere": ("请在这里签名", "Sign here"),
    "signClear": ("重签", "Sign again"),
    "signConfirm": ("确认签名并提交", "Confirm and submit"),
    "reviewToSign": ("下一步：签名", "Next: sign"),
    "errSignEmpty": ("请先在白框里签上您的名字", "Please sign your name in the white box first"),
    "errSignShort": ("签名太短了，请写下您的完整名字；写错了可以点“重签”",
                     "That is too short for a signature: write your full name, or tap “Sign again” to start over"),
    "materialDeclare": ("本人承诺代替", "Declare instead"),
    "stateDeclared": ("已由本人承诺代替", "Replaced by your declaration"),
    "undoDeclare": ("取消承诺", "Undo"),
    "errQrExpired": ("这个二维码已经过期了，请在手机上刷新后重新出示",
                     "This QR code has expired: refresh it on your phone and show it again"),
    "errQrClock": ("这个二维码的时间不对，请在手机上刷新后重新出示",
                   "This QR code's time is wrong: refresh it on your phone and show it again"),
}
